# Secrets of the appliance: file options, and a first-boot oneshot that creates every
# missing one under services.solarmon.secretsDir with random content. Nothing secret is
# ever in the Nix store; services get them through systemd LoadCredential (or, for
# InfluxDB's own provisioning, a group-readable file).
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.solarmon;
  inherit (lib) mkOption types;

  # name -> { file (below secretsDir), group allowed to read it (null = root only) }.
  # influxdb2's provisioning preStart reads the auth token files itself, as user influxdb2.
  secrets = {
    mqttCollectPassword = { file = "mqtt-collect.password"; group = null; };
    mqttBridgePassword = { file = "mqtt-bridge.password"; group = null; };
    influxAdminPassword = { file = "influx-admin.password"; group = null; };
    influxAdminToken = { file = "influx-admin.token"; group = null; };
    influxBridgeToken = { file = "influx-bridge.token"; group = "influxdb2"; };
    influxGrafanaToken = { file = "influx-grafana.token"; group = "influxdb2"; };
    influxBootstrapToken = { file = "influx-bootstrap.token"; group = "influxdb2"; };
    grafanaAdminPassword = { file = "grafana-admin.password"; group = null; };
    grafanaSecretKey = { file = "grafana-secret.key"; group = null; };
  };

  inDir = path: lib.hasPrefix "${cfg.secretsDir}/" path;
  groupExists = g: g == null || config.users.groups ? ${g};

  generate = pkgs.writeShellScript "solarmon-secrets" ''
    set -eu
    umask 0077
    install -d -m 0711 -o root -g root ${lib.escapeShellArg cfg.secretsDir}

    # make <path> <group|""> : create a random secret unless the file exists and is not empty.
    make() {
      if [ ! -s "$1" ]; then
        head -c 30 /dev/urandom | base32 -w0 > "$1.new"
        echo >> "$1.new"
        mv "$1.new" "$1"
        echo "created $1"
      fi
      if [ -n "$2" ]; then
        chown root:"$2" "$1"
        chmod 0640 "$1"
      else
        chown root:root "$1"
        chmod 0600 "$1"
      fi
    }

    ${lib.concatStrings (
      lib.mapAttrsToList (
        name: s:
        let
          path = cfg.secretFiles.${name};
          group = if s.group != null && groupExists s.group then s.group else "";
        in
        lib.optionalString (inDir path) "make ${lib.escapeShellArg path} ${lib.escapeShellArg group}\n"
      ) secrets
    )}
  '';
in
{
  options.services.solarmon = {
    secretsDir = mkOption {
      type = types.str;
      default = "/var/lib/solarmon-secrets";
      description = ''
        Where missing secrets are created on first boot (root-owned, mode 0711; files 0600,
        InfluxDB auth tokens 0640 group influxdb2). Back it up with the InfluxDB data.
        Put your own files here too, e.g. JBD passwords.
      '';
    };

    secretFiles = mkOption {
      default = { };
      description = ''
        Secret files. Each defaults to a file in {option}`services.solarmon.secretsDir`,
        created on first boot if missing. Point one elsewhere to provide it yourself
        (then it is not generated). Don't use files from the nix store!
      '';
      type = types.submodule {
        options = lib.mapAttrs (
          name: s:
          mkOption {
            type = types.str;
            default = "${cfg.secretsDir}/${s.file}";
            defaultText = lib.literalExpression ''"''${config.services.solarmon.secretsDir}/${s.file}"'';
            description = "Secret file `${s.file}`.";
          }
        ) secrets;
      };
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = lib.mapAttrsToList (name: _: {
      assertion =
        let
          p = cfg.secretFiles.${name};
        in
        lib.hasPrefix "/" p && !lib.hasPrefix "/nix/store" p;
      message = "services.solarmon.secretFiles.${name}: must be an absolute path outside the Nix store";
    }) secrets;

    systemd.services.solarmon-secrets = {
      description = "solarmon: create missing secrets (first boot)";
      wantedBy = [ "multi-user.target" ];
      path = [ pkgs.coreutils ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = generate;
      };
    };
  };
}

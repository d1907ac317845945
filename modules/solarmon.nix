# services.solarmon: the devices and settings, the rendered config file, and the three
# app services (collect, bridge, bootstrap) as hardened systemd units.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.solarmon;
  rc = import ./lib/render-config.nix;
  d = rc.defaults;
  format = pkgs.formats.json { };
  inherit (lib) mkOption types;

  ###### Interface helpers

  secretPath = types.str // {
    description = "absolute path to a file outside the Nix store";
  };

  deviceType = types.submodule {
    options = {
      id = mkOption {
        type = types.strMatching "[a-z0-9][a-z0-9_-]{0,31}";
        example = "battery1";
        description = "Short id used in MQTT topics and InfluxDB tags.";
      };
      kind = mkOption {
        type = types.enum [
          "litime-mppt"
          "jbd-bms"
        ];
        description = "Device type.";
      };
      address = mkOption {
        type = types.str;
        example = "A4:C1:38:12:34:56";
        description = "Bluetooth MAC address.";
      };
      name = mkOption {
        type = types.nullOr types.str;
        default = rc.deviceDefaults.name;
        description = "Display name (defaults to the id).";
      };
      interval = mkOption {
        type = types.nullOr types.number;
        default = rc.deviceDefaults.interval;
        description = "Poll interval in seconds for this device (default: {option}`services.solarmon.interval`).";
      };
      auth = mkOption {
        type = types.enum [
          "auto"
          "none"
          "password"
        ];
        default = rc.deviceDefaults.auth;
        description = ''
          jbd-bms only: how the BMS is unlocked. `auto` tries a plain read first and
          authenticates with {option}`passwordFile` if the BMS refuses.
        '';
      };
      passwordFile = mkOption {
        type = types.nullOr secretPath;
        default = rc.deviceDefaults.passwordFile;
        example = "/var/lib/solarmon-secrets/jbd-battery1";
        description = ''
          jbd-bms only: file holding the BMS password, handed to the collector with
          systemd's LoadCredential. Don't use a file from the nix store!
        '';
      };
    };
  };

  tierType = types.submodule {
    options = {
      name = mkOption {
        type = types.str;
        description = "Tier name.";
      };
      bucket = mkOption {
        type = types.str;
        description = "InfluxDB bucket of this tier.";
      };
      span = mkOption {
        type = types.nullOr types.ints.positive;
        description = "Aggregation window in seconds; `null` for the raw tier.";
      };
      retention = mkOption {
        type = types.ints.unsigned;
        description = "Retention in seconds (0 keeps forever).";
      };
    };
  };

  # What render-config.nix needs, straight from the options.
  values = {
    inherit (cfg)
      devices
      interval
      tiers
      logLevel
      settings
      homeassistant
      collector
      ;
    mqtt = {
      inherit (cfg.mqtt)
        host
        port
        topicPrefix
        keepalive
        ;
    };
    influx = {
      inherit (cfg.influx) url org timeout;
    };
    bridge = {
      inherit (cfg.bridge)
        clientId
        batchSize
        flushInterval
        maxBackoff
        ;
      stateDir = "/var/lib/${bridgeStateDirectory}";
    };
  };

  bridgeStateDirectory = "solarmon-bridge";

  configFile = role: format.generate "solarmon-${role}.json" (rc.render { inherit values role; });

  exe = lib.getExe cfg.package;

  jbdCredentials = map (dev: "${rc.credential.jbdPassword dev.id}:${dev.passwordFile}") (
    lib.filter (dev: dev.passwordFile != null) cfg.devices
  );

  # Shared by the three app units.
  # Hardening: modelled on nixpkgs' mosquitto.nix. Not verified against real BLE hardware:
  # the collector reaches BlueZ only over the D-Bus system socket (AF_UNIX) and needs no
  # device nodes or capabilities; see modules/bluetooth.nix for the D-Bus policy.
  hardening = {
    DynamicUser = true;
    CapabilityBoundingSet = "";
    AmbientCapabilities = "";
    NoNewPrivileges = true;
    PrivateTmp = true;
    PrivateDevices = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    ProtectClock = true;
    ProtectControlGroups = true;
    ProtectHostname = true;
    ProtectKernelLogs = true;
    ProtectKernelModules = true;
    ProtectKernelTunables = true;
    ProtectProc = "invisible";
    ProcSubset = "pid";
    RestrictAddressFamilies = [
      "AF_UNIX"
      "AF_INET"
      "AF_INET6"
    ];
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    RemoveIPC = true;
    SystemCallArchitectures = "native";
    SystemCallFilter = [
      "@system-service"
      "~@privileged"
      "~@resources"
    ];
    UMask = "0077";
  };

  # Restart with a growing delay (5 s, then up to 10 min) instead of a tight loop: a
  # broken config (the app lists every problem and exits 2) retries at most every 10 min
  # and floods neither the journal nor the SD card, while a transient failure (BlueZ,
  # broker or InfluxDB not up yet) recovers on its own. Exit 2 is also the app's code for
  # operational errors (e.g. InfluxDB unreachable), so it is not excluded from restarts.
  restartPolicy = {
    Restart = "on-failure";
    RestartSec = "5s";
    RestartSteps = 10;
    RestartMaxDelaySec = "10min";
  };

  secretsUnit = "solarmon-secrets.service";
in
{
  ###### Interface

  options.services.solarmon = {
    enable = lib.mkEnableOption "the solarmon off-grid solar monitor (BLE collector, MQTT, InfluxDB 2, Grafana)";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../pkgs/solarmon.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./pkgs/solarmon.nix { }";
      description = "The solarmon package (needs the `collect`, `bridge`, `bootstrap` commands).";
    };

    devices = mkOption {
      type = types.listOf deviceType;
      default = d.devices;
      example = lib.literalExpression ''
        [
          { id = "mppt"; kind = "litime-mppt"; address = "C8:47:80:12:34:56"; }
          { id = "battery1"; kind = "jbd-bms"; address = "A4:C1:38:12:34:57";
            auth = "password"; passwordFile = "/var/lib/solarmon-secrets/jbd-battery1"; }
        ]
      '';
      description = "The Bluetooth devices to poll.";
    };

    interval = mkOption {
      type = types.number;
      default = d.interval;
      description = "Default poll interval in seconds.";
    };

    mqtt = {
      host = mkOption {
        type = types.str;
        default = d.mqtt.host;
        description = "MQTT broker host (the local mosquitto by default).";
      };
      port = mkOption {
        type = types.port;
        default = d.mqtt.port;
        description = "MQTT broker port.";
      };
      topicPrefix = mkOption {
        type = types.strMatching "[^#+/]([^#+]*[^#+/])?";
        default = d.mqtt.topicPrefix;
        description = "First topic level: `<prefix>/<device-id>/state`.";
      };
      keepalive = mkOption {
        type = types.ints.between 5 3600;
        default = d.mqtt.keepalive;
        description = "MQTT keepalive in seconds.";
      };
    };

    homeassistant = {
      discovery = mkOption {
        type = types.bool;
        default = d.homeassistant.discovery;
        description = "Publish Home Assistant MQTT discovery messages.";
      };
      prefix = mkOption {
        type = types.str;
        default = d.homeassistant.prefix;
        description = "Home Assistant discovery topic prefix.";
      };
    };

    collector = {
      timeout = mkOption {
        type = types.number;
        default = d.collector.timeout;
        description = "Per-request reply timeout in seconds.";
      };
      connectTimeout = mkOption {
        type = types.number;
        default = d.collector.connectTimeout;
        description = "BLE connect timeout in seconds.";
      };
      offlineAfter = mkOption {
        type = types.ints.positive;
        default = d.collector.offlineAfter;
        description = "Failed polls before a device is reported offline.";
      };
      adapter = mkOption {
        type = types.str;
        default = d.collector.adapter;
        description = "BlueZ adapter to use and to power-cycle.";
      };
      adapterResetAfter = mkOption {
        type = types.ints.positive;
        default = d.collector.adapterResetAfter;
        description = "Devices failing at once that trigger an adapter power-cycle.";
      };
    };

    influx = {
      url = mkOption {
        type = types.str;
        default = d.influx.url;
        description = "InfluxDB 2 URL.";
      };
      org = mkOption {
        type = types.str;
        default = d.influx.org;
        description = "InfluxDB organization (provisioned by modules/influxdb.nix).";
      };
      timeout = mkOption {
        type = types.number;
        default = d.influx.timeout;
        description = "InfluxDB request timeout in seconds.";
      };
    };

    tiers = mkOption {
      type = types.listOf tierType;
      default = d.tiers;
      description = ''
        Retention tiers: exactly one raw tier (`span = null`) plus downsampled ones.
        Each becomes an InfluxDB bucket; `solarmon bootstrap` creates the Flux tasks.
      '';
    };

    bridge = {
      clientId = mkOption {
        type = types.str;
        default = d.bridge.clientId;
        description = "MQTT client id of the bridge (its persistent session).";
      };
      batchSize = mkOption {
        type = types.ints.positive;
        default = d.bridge.batchSize;
        description = "Points per InfluxDB write.";
      };
      flushInterval = mkOption {
        type = types.number;
        default = d.bridge.flushInterval;
        description = "Longest time in seconds a point waits before it is written.";
      };
      maxBackoff = mkOption {
        type = types.number;
        default = d.bridge.maxBackoff;
        description = "Longest retry delay in seconds while InfluxDB is unreachable.";
      };
    };

    logLevel = mkOption {
      type = types.enum [
        "debug"
        "info"
        "warning"
        "error"
      ];
      default = d.logLevel;
      description = "Log level of the app services.";
    };

    settings = mkOption {
      type = types.submodule { freeformType = format.type; };
      default = d.settings;
      example = {
        collector.offline_after = 5;
      };
      description = ''
        Extra keys merged last over the rendered config file, spelled as in the TOML file
        (snake_case, see `src/solarmon/config.py`). Unknown keys make the app refuse to
        start, naming the key. Never put secrets here: this ends up in the Nix store.
      '';
    };

    configFiles = mkOption {
      type = types.attrsOf types.path;
      readOnly = true;
      description = "The rendered config file of each role (for `solarmon check-config` and tests).";
    };
  };

  ###### Implementation

  config = lib.mkIf cfg.enable {
    assertions =
      let
        ids = map (dev: dev.id) cfg.devices;
        addrs = map (dev: lib.toUpper dev.address) cfg.devices;
        dups = l: lib.unique (lib.filter (x: lib.count (y: y == x) l > 1) l);
      in
      [
        {
          assertion = dups ids == [ ];
          message = "services.solarmon.devices: duplicate id(s) ${toString (dups ids)}";
        }
        {
          assertion = dups addrs == [ ];
          message = "services.solarmon.devices: duplicate address(es) ${toString (dups addrs)}";
        }
        {
          assertion = lib.count (t: t.span == null) cfg.tiers == 1;
          message = "services.solarmon.tiers: exactly one tier must have span = null (the raw tier)";
        }
      ]
      ++ lib.concatMap (dev: [
        {
          assertion = dev.passwordFile == null || (lib.hasPrefix "/" dev.passwordFile && !lib.hasPrefix "/nix/store" dev.passwordFile);
          message = "services.solarmon.devices.${dev.id}.passwordFile: must be an absolute path outside the Nix store (a string such as \"/var/lib/solarmon-secrets/jbd-${dev.id}\", not a Nix path)";
        }
        {
          assertion = dev.kind == "jbd-bms" || (dev.passwordFile == null && dev.auth == "auto");
          message = "services.solarmon.devices.${dev.id}: auth and passwordFile apply to jbd-bms devices only";
        }
        {
          assertion = dev.auth != "password" || dev.passwordFile != null;
          message = "services.solarmon.devices.${dev.id}.passwordFile: auth = \"password\" needs a passwordFile";
        }
      ]) cfg.devices;

    services.solarmon.configFiles = lib.genAttrs rc.roles configFile;

    environment.systemPackages = [ cfg.package ];

    systemd.services.solarmon-collect = {
      description = "solarmon collector: poll BLE devices, publish to MQTT";
      wantedBy = [ "multi-user.target" ];
      wants = [
        "bluetooth.service"
        "mosquitto.service"
      ];
      after = [
        "bluetooth.service"
        "mosquitto.service"
        secretsUnit
      ];
      requires = [ secretsUnit ];
      serviceConfig = hardening // restartPolicy // {
        ExecStart = "${exe} collect --config ${configFile "collect"}";
        LoadCredential = [
          "${rc.credential.mqttPassword}:${cfg.secretFiles.mqttCollectPassword}"
        ]
        ++ jbdCredentials;
        # D-Bus policy for org.bluez: see modules/bluetooth.nix.
        SupplementaryGroups = lib.optional cfg.bluetooth.enable cfg.bluetooth.group;
      };
    };

    systemd.services.solarmon-bridge = {
      description = "solarmon bridge: MQTT -> InfluxDB 2 with an on-disk queue";
      wantedBy = [ "multi-user.target" ];
      # Wants, not Requires: the bridge must keep queueing while InfluxDB is down.
      wants = [
        "mosquitto.service"
        "influxdb2.service"
      ];
      after = [
        "mosquitto.service"
        "influxdb2.service"
        secretsUnit
      ];
      requires = [ secretsUnit ];
      serviceConfig = hardening // restartPolicy // {
        ExecStart = "${exe} bridge --config ${configFile "bridge"}";
        StateDirectory = bridgeStateDirectory;
        StateDirectoryMode = "0700";
        LoadCredential = [
          "${rc.credential.mqttPassword}:${cfg.secretFiles.mqttBridgePassword}"
          "${rc.credential.influxToken}:${cfg.secretFiles.influxBridgeToken}"
        ];
      };
    };

    systemd.services.solarmon-bootstrap = {
      description = "solarmon bootstrap: InfluxDB buckets and downsampling tasks";
      wantedBy = [ "multi-user.target" ];
      # Requires the local InfluxDB: when influxdb2 restarts (it does once after
      # provisioning new tokens), the bootstrap runs again; it is idempotent.
      requires = [ secretsUnit ] ++ lib.optional cfg.influxdb.enable "influxdb2.service";
      after = [
        "influxdb2.service"
        secretsUnit
      ];
      serviceConfig = hardening // {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${exe} bootstrap --config ${configFile "bootstrap"}";
        LoadCredential = [ "${rc.credential.influxToken}:${cfg.secretFiles.influxBootstrapToken}" ];
        Restart = "on-failure";
        RestartSec = "10s";
        RestartSteps = 6;
        RestartMaxDelaySec = "10min";
        TimeoutStartSec = "5min";
      };
    };
  };
}

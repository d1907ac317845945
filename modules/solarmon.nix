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
      passkeyFile = mkOption {
        type = types.nullOr secretPath;
        default = rc.deviceDefaults.passkeyFile;
        example = "/var/lib/solarmon-secrets/jbd-battery1.passkey";
        description = ''
          jbd-bms of the passkey generation only: file holding the six-digit BLE passkey,
          read by `solarmon-pair` (never by the collector). Without it pairing uses
          `--passkey` or the factory default 123456. Don't use a file from the nix store!
        '';
      };
    };
  };

  # Freeform JSON (snake_case keys as in src/solarmon/config.py), passed through as written.
  jsonSection = types.submodule { freeformType = format.type; };

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
      bank
      energy
      clock
      loadRules
      ;
    alerts = {
      inherit (cfg.alerts) rules settings;
      push = if cfg.alerts.push.url == null then null else { inherit (cfg.alerts.push) url tokenFile settings; };
    };
    appWindow = {
      inherit (cfg.appWindow) httpPort settings;
    };
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

  push = cfg.alerts.push;
  pushEnabled = push.url != null;
  pushCredentials = lib.optional (pushEnabled && push.tokenFile != null) "${rc.credential.pushToken}:${push.tokenFile}";

  passkeyDevices = lib.filter (dev: dev.passkeyFile != null) cfg.devices;
  linkPasskeys = lib.concatMapStrings (
    dev:
    "${pkgs.coreutils}/bin/ln -s ${lib.escapeShellArg dev.passkeyFile} \"$creds\"/${rc.credential.jbdPasskey dev.id}\n"
  ) passkeyDevices;

  # The collector reaches the network beyond loopback only to push alerts, or to talk
  # to a broker on another host.
  loopbackHosts = [
    "127.0.0.1"
    "localhost"
    "::1"
  ];
  collectorNeedsNetwork = pushEnabled || !(lib.elem cfg.mqtt.host loopbackHosts);

  # The collector's StateDirectory= is relative to /var/lib.
  collectorStateDirectory = lib.removePrefix "/var/lib/" cfg.collector.stateDir;

  # `solarmon pair` for the appliance: run as root over SSH. It stops the collector while
  # pairing (a BMS takes one connection at a time), hands `solarmon pair` the passkey
  # files the way systemd would (a private $CREDENTIALS_DIRECTORY), and starts the
  # collector again afterwards, also when pairing failed.
  pairCommand = pkgs.writeShellScriptBin "solarmon-pair" ''
    set -eu
    if [ "$#" -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
      echo "usage: solarmon-pair DEVICE [--passkey N] [--timeout S]   (as root on the appliance)" >&2
      echo "DEVICE: id or MAC of a configured jbd-bms; passkey: --passkey, else the device's passkeyFile, else 123456" >&2
      exit 64
    fi
    restart=
    creds=$(${pkgs.coreutils}/bin/mktemp -d)
    cleanup() {
      ${pkgs.coreutils}/bin/rm -rf "$creds"
      if [ -n "$restart" ]; then
        ${pkgs.systemd}/bin/systemctl start solarmon-collect.service
      fi
    }
    trap cleanup EXIT
    ${linkPasskeys}
    if ${pkgs.systemd}/bin/systemctl is-active --quiet solarmon-collect.service; then
      echo "stopping solarmon-collect while pairing (started again afterwards)" >&2
      restart=1
      ${pkgs.systemd}/bin/systemctl stop solarmon-collect.service
    fi
    rc=0
    CREDENTIALS_DIRECTORY="$creds" ${exe} pair "$@" --config ${configFile "pair"} || rc=$?
    exit "$rc"
  '';

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
      stateDir = mkOption {
        type = types.strMatching "/var/lib/[A-Za-z0-9][A-Za-z0-9._-]*";
        default = d.collector.stateDir;
        description = ''
          Where the collector keeps energy totals, samples held while the clock is not
          trusted, active alerts and the push queue (the unit's StateDirectory, so it must
          be directly below /var/lib).
        '';
      };
      restartBluetoothd = mkOption {
        type = types.bool;
        default = d.collector.restartBluetoothd;
        description = ''
          Last recovery step: restart bluetooth.service when an adapter power-cycle did
          not help. Adds a polkit rule (and enables polkit) allowing exactly that restart
          to the collector's user.
        '';
      };
    };

    alerts = {
      rules = mkOption {
        type = types.nullOr (types.listOf jsonSection);
        default = d.alerts.rules;
        example = lib.literalExpression ''
          [
            { name = "low-soc"; field = "soc"; device = "bank"; below = 30; hysteresis = 5; delay = 60; }
            { name = "hot"; field = "temperature_*"; above = 50; hysteresis = 5; delay = 60; }
          ]
        '';
        description = ''
          Alert rules (`alerts.rules` of the app, snake_case keys). `null` keeps the app's
          built-in rules; a list replaces them entirely.
        '';
      };
      settings = mkOption {
        type = jsonSection;
        default = d.alerts.settings;
        example = {
          silent_after = 900;
        };
        description = "Other keys of the app's `alerts` section (`enabled`, `silent_after`).";
      };
      push = {
        url = mkOption {
          type = types.nullOr (types.strMatching "https?://[^/[:space:]]+.*");
          default = null;
          example = "https://ntfy.sh/my-cabin-solar";
          description = ''
            Push alert changes to this URL (ntfy topic or JSON webhook); `null`: no push.
            Setting it lets the collector reach the network (see docs/nix.md).
          '';
        };
        tokenFile = mkOption {
          type = types.nullOr secretPath;
          default = null;
          example = "/var/lib/solarmon-secrets/push.token";
          description = ''
            File holding a bearer token for the push server, handed to the collector with
            systemd's LoadCredential. Don't use a file from the nix store!
          '';
        };
        settings = mkOption {
          type = jsonSection;
          default = { };
          example = {
            format = "json";
            retry = 120;
          };
          description = "Other keys of `alerts.push` (`format`: ntfy or json, `retry`).";
        };
      };
    };

    bank = mkOption {
      type = jsonSection;
      default = d.bank;
      example = {
        packs = [
          "battery1"
          "battery2"
        ];
      };
      description = "The app's `bank` section (`packs`, `stale_after`), passed through.";
    };

    energy = mkOption {
      type = jsonSection;
      default = d.energy;
      example = {
        history_days = 14;
      };
      description = "The app's `energy` section (`max_gap`, `history_days`), passed through.";
    };

    clock = mkOption {
      type = jsonSection;
      default = d.clock;
      example = {
        trust = "always";
      };
      description = "The app's `clock` section (`trust`, `hold_max`), passed through.";
    };

    loadRules = mkOption {
      type = types.listOf jsonSection;
      default = d.loadRules;
      example = lib.literalExpression ''
        [ { device = "mppt"; off_below_soc = 30; on_above_soc = 50; on_from = "17:00"; on_until = "23:30"; } ]
      '';
      description = "The app's `load_rules`: switch a LiTime controller's load output (snake_case keys).";
    };

    appWindow = {
      httpPort = mkOption {
        type = types.nullOr (types.ints.between 1024 65535);
        default = d.appWindow.httpPort;
        description = ''
          Loopback-only port of the collector's release endpoint (the kiosk's "app" button
          opens `http://127.0.0.1:8099/release`); `null` turns it off. Never opened in the
          firewall, and the collector may only reach loopback unless push is configured.
        '';
      };
      settings = mkOption {
        type = jsonSection;
        default = d.appWindow.settings;
        example = {
          default_minutes = 20;
        };
        description = "Other keys of `app_window` (`max_minutes`, `default_minutes`).";
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
        {
          assertion = push.tokenFile == null || (lib.hasPrefix "/" push.tokenFile && !lib.hasPrefix "/nix/store" push.tokenFile);
          message = "services.solarmon.alerts.push.tokenFile: must be an absolute path outside the Nix store";
        }
        {
          assertion = pushEnabled || (push.tokenFile == null && push.settings == { });
          message = "services.solarmon.alerts.push: tokenFile and settings need a push url";
        }
        {
          # Secrets only through the *File options (LoadCredential), never as store paths.
          assertion =
            !(push.settings ? token_file)
            && !((cfg.settings.alerts or { }).push or { } ? token_file)
            && !(cfg.alerts.settings ? push);
          message = "services.solarmon.alerts.push: set the token with alerts.push.tokenFile, the url with alerts.push.url (not in settings)";
        }
        {
          assertion = !((cfg.settings.collector or { }) ? state_dir);
          message = "services.solarmon.settings.collector.state_dir: use services.solarmon.collector.stateDir (it is also the unit's StateDirectory)";
        }
        {
          assertion = !((cfg.settings.app_window or { }) ? http_port) && !(cfg.appWindow.settings ? http_port);
          message = "services.solarmon.appWindow: set the port with appWindow.httpPort";
        }
        {
          assertion = cfg.appWindow.httpPort == null || !(lib.elem cfg.appWindow.httpPort config.networking.firewall.allowedTCPPorts);
          message = "services.solarmon.appWindow.httpPort: the release endpoint is loopback-only; do not open port ${toString cfg.appWindow.httpPort} in the firewall";
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
        {
          assertion = dev.passkeyFile == null || (dev.kind == "jbd-bms" && lib.hasPrefix "/" dev.passkeyFile && !lib.hasPrefix "/nix/store" dev.passkeyFile);
          message = "services.solarmon.devices.${dev.id}.passkeyFile: jbd-bms only, and an absolute path outside the Nix store";
        }
      ]) cfg.devices;

    services.solarmon.configFiles = lib.genAttrs rc.roles configFile;

    warnings =
      lib.optional (cfg.kiosk.enable && cfg.appWindow.httpPort != 8099) ''
        services.solarmon.appWindow.httpPort is ${toString cfg.appWindow.httpPort}: the kiosk's "app" button
        opens http://127.0.0.1:8099/release and will not work.
      '';

    environment.systemPackages = [
      cfg.package
      pairCommand
    ];

    # collector.restartBluetoothd: the collector calls systemd's RestartUnit over D-Bus;
    # systemd asks polkit (action org.freedesktop.systemd1.manage-units, details unit and
    # verb). Allow exactly "restart bluetooth.service" to the collector's user. With
    # DynamicUser the user name is the unit name; polkit resolves the uid through NSS
    # (nss-systemd knows dynamic users). Unverified on the device: see docs/nix.md.
    security.polkit = lib.mkIf cfg.collector.restartBluetoothd {
      enable = true;
      extraConfig = ''
        // solarmon: the collector may restart bluetoothd (collector.restartBluetoothd).
        polkit.addRule(function(action, subject) {
          if (action.id == "org.freedesktop.systemd1.manage-units" &&
              action.lookup("unit") == "bluetooth.service" &&
              action.lookup("verb") == "restart" &&
              subject.user == "solarmon-collect") {
            return polkit.Result.YES;
          }
        });
      '';
    };

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
        ++ jbdCredentials
        ++ pushCredentials;
        # Energy totals, held samples, active alerts and the push queue survive restarts.
        StateDirectory = collectorStateDirectory;
        StateDirectoryMode = "0700";
        # Network: the broker (127.0.0.1 over TCP) and the app-window endpoint (a
        # 127.0.0.1 listener) need AF_INET, but only on loopback. Without push (and with
        # the local broker) the collector has no business beyond loopback: AF_INET6 is
        # not allowed and systemd's IP firewall drops everything but localhost, so a
        # compromised BLE parser cannot reach the LAN or the Internet. Push needs any
        # address (DNS, an ntfy server anywhere, IPv6), so then both families and all
        # addresses are allowed.
        RestrictAddressFamilies =
          [
            "AF_UNIX"
            "AF_INET"
          ]
          ++ lib.optional collectorNeedsNetwork "AF_INET6";
        # D-Bus policy for org.bluez: see modules/bluetooth.nix.
        SupplementaryGroups = lib.optional cfg.bluetooth.enable cfg.bluetooth.group;
      }
      // lib.optionalAttrs (!collectorNeedsNetwork) {
        IPAddressDeny = "any";
        IPAddressAllow = "localhost";
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

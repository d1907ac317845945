# The local MQTT broker: loopback only, one user per service with its own ACL, and
# persistence so the bridge's QoS 1 session is kept across restarts.
{
  config,
  lib,
  ...
}:

let
  cfg = config.services.solarmon;
  prefix = cfg.mqtt.topicPrefix;
in
{
  options.services.solarmon.broker = {
    enable = lib.mkEnableOption "a local mosquitto broker for solarmon" // {
      default = true;
    };
    address = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1";
      description = "Address the broker listens on (loopback: only local services use it).";
    };
    maxQueuedMessages = lib.mkOption {
      type = lib.types.ints.positive;
      default = 100000;
      description = ''
        Messages the broker queues per persistent session (the bridge's) while that client
        is away. At 3 devices every 27 s this covers about 10 days of bridge downtime.
      '';
    };
  };

  config = lib.mkIf (cfg.enable && cfg.broker.enable) {
    services.mosquitto = {
      enable = true;
      persistence = true;
      settings = {
        max_queued_messages = cfg.broker.maxQueuedMessages;
        # Write the in-memory store every 5 min rather than the default 30 min.
        autosave_interval = 300;
      };
      listeners = [
        {
          inherit (cfg.broker) address;
          inherit (cfg.mqtt) port;
          users = {
            solarmon-collect = {
              passwordFile = cfg.secretFiles.mqttCollectPassword;
              acl = [
                "readwrite ${prefix}/#"
              ]
              ++ lib.optional cfg.homeassistant.discovery "readwrite ${cfg.homeassistant.prefix}/#";
            };
            solarmon-bridge = {
              passwordFile = cfg.secretFiles.mqttBridgePassword;
              acl = [
                "read ${prefix}/#"
                "write ${prefix}/bridge/#"
              ];
            };
          };
        }
      ];
    };

    systemd.services.mosquitto = {
      requires = [ "solarmon-secrets.service" ];
      after = [ "solarmon-secrets.service" ];
    };
  };
}

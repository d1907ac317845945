# InfluxDB 2 with nixpkgs' provisioning: the org, one bucket per tier, and one token per
# service with only what it needs. The Flux tasks are made by `solarmon bootstrap`
# (modules/solarmon.nix): the influxdb2 module has no option for tasks.
{
  config,
  lib,
  ...
}:

let
  cfg = config.services.solarmon;
  org = cfg.influx.org;
  raw = lib.findFirst (t: t.span == null) (throw "services.solarmon.tiers: no raw tier") cfg.tiers;
  buckets = map (t: t.bucket) cfg.tiers;
in
{
  options.services.solarmon.influxdb = {
    enable = lib.mkEnableOption "a local InfluxDB 2 for solarmon" // {
      default = true;
    };
    bindAddress = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1:8086";
      description = "influxd http-bind-address (loopback: Grafana proxies every query).";
    };
  };

  config = lib.mkIf (cfg.enable && cfg.influxdb.enable) {
    services.influxdb2 = {
      enable = true;
      settings = {
        http-bind-address = cfg.influxdb.bindAddress;
        reporting-disabled = true;
      };
      provision = {
        enable = true;
        initialSetup = {
          organization = org;
          bucket = raw.bucket;
          inherit (raw) retention;
          passwordFile = cfg.secretFiles.influxAdminPassword;
          tokenFile = cfg.secretFiles.influxAdminToken;
        };
        organizations.${org} = {
          description = "solarmon";
          buckets = lib.listToAttrs (
            map (
              t:
              lib.nameValuePair t.bucket {
                description = "solarmon tier ${t.name}";
                inherit (t) retention;
              }
            ) cfg.tiers
          );
          auths = {
            # The bridge writes samples into the raw bucket, and windows of points that came
            # too late for the Flux tasks into the tier buckets (solarmon.bridge.backfill).
            solarmon-bridge = {
              description = "solarmon bridge (write all tiers)";
              writeBuckets = buckets;
              tokenFile = cfg.secretFiles.influxBridgeToken;
            };
            # Grafana only reads.
            solarmon-grafana = {
              description = "solarmon grafana (read all tiers)";
              readBuckets = buckets;
              tokenFile = cfg.secretFiles.influxGrafanaToken;
            };
            # The bootstrap checks buckets and (re)creates the downsampling tasks.
            solarmon-bootstrap = {
              description = "solarmon bootstrap (buckets, tasks)";
              readPermissions = [
                "orgs"
                "buckets"
                "tasks"
              ];
              writePermissions = [
                "buckets"
                "tasks"
              ];
              tokenFile = cfg.secretFiles.influxBootstrapToken;
            };
          };
        };
      };
    };

    systemd.services.influxdb2 = {
      requires = [ "solarmon-secrets.service" ];
      after = [ "solarmon-secrets.service" ];
    };
  };
}

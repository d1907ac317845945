# Grafana: the InfluxDB (Flux) datasource and the dashboards from grafana/, read-only
# anonymous Viewer access for the kiosk and LAN PCs, secrets from files, nothing phoning
# home. Secrets reach Grafana as systemd credentials and `$__file{...}` references.
{
  config,
  lib,
  ...
}:

let
  cfg = config.services.solarmon;
  g = cfg.grafana;
  raw = lib.findFirst (t: t.span == null) null cfg.tiers;
  # systemd puts LoadCredential files here, readable by the service's user only.
  cred = name: "$__file{/run/credentials/grafana.service/${name}}";
in
{
  options.services.solarmon.grafana = {
    enable = lib.mkEnableOption "Grafana with the solarmon dashboards" // {
      default = true;
    };
    listenAddress = lib.mkOption {
      type = lib.types.str;
      default = "0.0.0.0";
      description = "Address Grafana listens on (all interfaces: PCs on the LAN open the dashboards).";
    };
    port = lib.mkOption {
      type = lib.types.port;
      default = 3000;
      description = "Grafana HTTP port.";
    };
    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Open {option}`services.solarmon.grafana.port` in the firewall.";
    };
    dashboards = lib.mkOption {
      type = lib.types.path;
      default = ../grafana/dashboards;
      defaultText = lib.literalExpression "./grafana/dashboards";
      description = "Directory of dashboard JSON files to provision (read-only in the UI).";
    };
    datasourceUid = lib.mkOption {
      type = lib.types.str;
      default = "solarmon-influx";
      readOnly = true;
      description = "UID of the provisioned InfluxDB datasource; the dashboards refer to it.";
    };
  };

  config = lib.mkIf (cfg.enable && g.enable) {
    services.grafana = {
      enable = true;
      settings = {
        server = {
          http_addr = g.listenAddress;
          http_port = g.port;
        };
        security = {
          admin_user = "admin";
          admin_password = cred "admin-password";
          secret_key = cred "secret-key";
          disable_gravatar = true;
        };
        "auth.anonymous" = {
          enabled = true;
          org_name = "Main Org.";
          org_role = "Viewer";
        };
        users.allow_sign_up = false;
        # Offline appliance: no usage reports, no update checks, no news feed.
        analytics = {
          reporting_enabled = false;
          check_for_updates = false;
          check_for_plugin_updates = false;
          feedback_links_enabled = false;
        };
        news.news_feed_enabled = false;
      };

      provision = {
        enable = true;
        datasources.settings = {
          apiVersion = 1;
          datasources = [
            {
              name = "InfluxDB (solarmon)"; # same as grafana/provisioning/datasources/solarmon.yaml
              type = "influxdb";
              uid = g.datasourceUid;
              access = "proxy";
              url = cfg.influx.url;
              isDefault = true;
              editable = false;
              jsonData = {
                version = "Flux";
                organization = cfg.influx.org;
                defaultBucket = raw.bucket;
                timeInterval = "${toString cfg.interval}s";
              };
              secureJsonData.token = cred "influx-token";
            }
          ];
        };
        dashboards.settings = {
          apiVersion = 1;
          providers = [
            {
              name = "solarmon";
              type = "file";
              disableDeletion = true;
              allowUiUpdates = false;
              options.path = g.dashboards;
            }
          ];
        };
      };
    };

    systemd.services.grafana = {
      requires = [ "solarmon-secrets.service" ];
      after = [
        "solarmon-secrets.service"
        "influxdb2.service"
      ];
      serviceConfig.LoadCredential = [
        "admin-password:${cfg.secretFiles.grafanaAdminPassword}"
        "secret-key:${cfg.secretFiles.grafanaSecretKey}"
        "influx-token:${cfg.secretFiles.influxGrafanaToken}"
      ];
    };

    networking.firewall.allowedTCPPorts = lib.optional g.openFirewall g.port;
  };
}

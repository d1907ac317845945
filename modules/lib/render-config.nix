# The one place where NixOS option values become the solarmon config file.
#
# Pure Nix, builtins only (no nixpkgs `lib`), so it also evaluates where only a bare
# `nix-instantiate` exists: tests/nix/test_render_config.py renders the example host's
# devices with it and feeds the JSON to `solarmon check-config`. That keeps the
# Nix <-> Python contract (schema in src/solarmon/config.py) tested, not assumed.
#
# Usage:
#   let rc = import ./render-config.nix; in
#   rc.render { values = { devices = [ ... ]; mqtt.port = 1883; }; role = "collect"; }
#
# `values` uses the NixOS option names of services.solarmon (camelCase); anything left
# out takes the value from `rc.defaults`, which the module also uses as option defaults.
# `role` is the service the file is for: "collect", "bridge", "bootstrap", "simulate" or
# "pair" (the `solarmon-pair` wrapper: `solarmon pair` reads only the BLE passkeys).
# Each role gets the same devices, tiers and feature sections (alerts, bank, energy, clock,
# load_rules, app_window); only credentials and the MQTT user differ.
# Secrets never appear here: a secret is a path under $CREDENTIALS_DIRECTORY (systemd
# LoadCredential), expanded by the app at run time.
let
  defaults = {
    devices = [ ];
    interval = 27;
    mqtt = {
      host = "127.0.0.1";
      port = 1883;
      topicPrefix = "solarmon";
      keepalive = 30;
    };
    homeassistant = {
      discovery = false;
      prefix = "homeassistant";
    };
    collector = {
      timeout = 5;
      connectTimeout = 20;
      offlineAfter = 3;
      adapter = "hci0";
      adapterResetAfter = 3;
      # Energy totals, held samples, active alerts and the push queue (StateDirectory).
      stateDir = "/var/lib/solarmon-collector";
      # Last recovery step: restart bluetooth.service (needs the module's polkit rule).
      restartBluetoothd = false;
    };
    # Collector features. `settings` of each section are passed through as written
    # (snake_case keys of src/solarmon/config.py); an empty section takes the app's defaults.
    alerts = {
      # null: the app's built-in rules; a list replaces them entirely.
      rules = null;
      settings = { };
      # null: no push. Otherwise { url; tokenFile (null or a file); settings = { format, retry }; }
      push = null;
    };
    bank = { };
    energy = { };
    clock = { };
    loadRules = [ ];
    appWindow = {
      # Loopback-only release endpoint; the kiosk's "app" button opens port 8099. null: off.
      httpPort = 8099;
      settings = { };
    };
    influx = {
      url = "http://127.0.0.1:8086";
      org = "solarmon";
      timeout = 10;
    };
    tiers = [
      { name = "raw"; bucket = "solar_raw"; span = null; retention = 86400; }
      { name = "2m"; bucket = "solar_2m"; span = 120; retention = 7 * 86400; }
      { name = "5m"; bucket = "solar_5m"; span = 300; retention = 31 * 86400; }
      { name = "30m"; bucket = "solar_30m"; span = 1800; retention = 366 * 86400; }
      { name = "2h"; bucket = "solar_2h"; span = 7200; retention = 3653 * 86400; }
    ];
    bridge = {
      clientId = "solarmon-bridge";
      stateDir = "/var/lib/solarmon-bridge";
      batchSize = 500;
      flushInterval = 2;
      maxBackoff = 60;
    };
    logLevel = "info";
    # Freeform escape hatch, merged last over the rendered file (snake_case keys, as in
    # the TOML). Unknown keys are rejected by the app, so a typo fails loudly.
    settings = { };
  };

  # Device defaults (per entry of `devices`).
  deviceDefaults = {
    name = null;
    interval = null;
    auth = "auto";
    passwordFile = null;
    passkeyFile = null;
  };

  roles = [ "collect" "bridge" "bootstrap" "simulate" "pair" ];

  # MQTT user each role logs in as (mosquitto.nix creates exactly these users).
  mqttUser = {
    collect = "solarmon-collect";
    bridge = "solarmon-bridge";
    bootstrap = null;
    simulate = null;
    pair = null;
  };

  # Credential names, shared with modules/solarmon.nix (LoadCredential=<name>:<file>).
  credential = {
    mqttPassword = "mqtt-password";
    influxToken = "influx-token";
    jbdPassword = id: "jbd-password-${id}";
    jbdPasskey = id: "jbd-passkey-${id}";
    pushToken = "push-token";
  };
  credPath = name: "$CREDENTIALS_DIRECTORY/${name}";

  # Shallow-recursive merge: attrsets merge key by key, everything else is replaced.
  merge =
    base: over:
    base
    // builtins.mapAttrs (
      k: v: if builtins.isAttrs v && builtins.isAttrs (base.${k} or null) then merge base.${k} v else v
    ) over;

  # Drop null values so the app applies its own defaults (and `null` never means
  # "explicitly unset" by accident).
  dropNulls = attrs: builtins.removeAttrs attrs (builtins.filter (k: attrs.${k} == null) (builtins.attrNames attrs));

  renderDevice =
    role: d0:
    let
      d = deviceDefaults // d0;
      # The collector reads the JBD password; the simulator serves it as the device's
      # own password. The other roles get none (and never read it).
      withPassword = (role == "collect" || role == "simulate") && d.passwordFile != null;
      # Only `solarmon pair` reads the BLE passkey; the collector never gets it.
      withPasskey = role == "pair" && d.passkeyFile != null;
    in
    dropNulls {
      inherit (d) id kind address name interval;
      auth = if role == "collect" || role == "simulate" then d.auth else (if d.auth == "password" then "auto" else d.auth);
      password_file = if withPassword then credPath (credential.jbdPassword d.id) else null;
      passkey_file = if withPasskey then credPath (credential.jbdPasskey d.id) else null;
    };

  # alerts.push: only the collector pushes, so only its file names the token credential.
  renderPush =
    role: p0:
    let
      p = { tokenFile = null; settings = { }; } // p0;
    in
    merge (dropNulls {
      inherit (p) url;
      token_file = if role == "collect" && p.tokenFile != null then credPath credential.pushToken else null;
    }) p.settings;

  renderAlerts =
    role: a:
    merge (dropNulls {
      inherit (a) rules;
      push = if a.push == null then null else renderPush role a.push;
    }) a.settings;

  # Sections left empty are not written: the app applies its defaults.
  optionalSection = name: value: if value == { } || value == [ ] then { } else { ${name} = value; };

  renderTier = t: {
    inherit (t) name bucket span retention;
  };

  render =
    { values ? { }, role }:
    if !(builtins.elem role roles) then
      throw "render-config: role must be one of ${builtins.concatStringsSep ", " roles}, not ${role}"
    else
      let
        v = merge defaults values;
        user = mqttUser.${role};
        usesInflux = role == "bridge" || role == "bootstrap";
        base = {
          devices = map (renderDevice role) v.devices;
          mqtt = dropNulls {
            inherit (v.mqtt) host port keepalive;
            topic_prefix = v.mqtt.topicPrefix;
            username = user;
            password_file = if user != null then credPath credential.mqttPassword else null;
          };
          homeassistant = {
            inherit (v.homeassistant) discovery prefix;
          };
          collector = {
            inherit (v) interval;
            inherit (v.collector) timeout adapter;
            connect_timeout = v.collector.connectTimeout;
            offline_after = v.collector.offlineAfter;
            adapter_reset_after = v.collector.adapterResetAfter;
            state_dir = v.collector.stateDir;
            restart_bluetoothd = v.collector.restartBluetoothd;
          };
          influx = dropNulls {
            inherit (v.influx) url org timeout;
            token_file = if usesInflux then credPath credential.influxToken else null;
          };
          tiers = map renderTier v.tiers;
          bridge = {
            client_id = v.bridge.clientId;
            state_dir = v.bridge.stateDir;
            batch_size = v.bridge.batchSize;
            flush_interval = v.bridge.flushInterval;
            max_backoff = v.bridge.maxBackoff;
          };
          logging.level = v.logLevel;
          app_window = merge (dropNulls { http_port = v.appWindow.httpPort; }) v.appWindow.settings;
        }
        // optionalSection "alerts" (renderAlerts role v.alerts)
        // optionalSection "bank" v.bank
        // optionalSection "energy" v.energy
        // optionalSection "clock" v.clock
        // optionalSection "load_rules" v.loadRules;
      in
      merge base v.settings;
in
{
  inherit
    defaults
    deviceDefaults
    roles
    mqttUser
    credential
    render
    ;
}

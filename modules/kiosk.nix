# The touch display: cage (a Wayland kiosk compositor) on tty1 running a browser in
# kiosk mode on the Grafana kiosk dashboard. Restarted when it dies. cage never blanks
# the screen; an optional nightly schedule switches the backlight off instead.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.solarmon;
  k = cfg.kiosk;
  inherit (lib) mkOption types;

  grafanaUrl = "http://127.0.0.1:${toString cfg.grafana.port}";

  browserCommand = [
    (lib.getExe k.browser)
    "--kiosk"
    "--ozone-platform=wayland"
    "--noerrdialogs"
    "--disable-infobars"
    "--no-first-run"
    "--disable-session-crashed-bubble"
    "--disable-translate"
    "--disable-features=TranslateUI"
    "--check-for-update-interval=31536000"
    "--overscroll-history-navigation=0"
    "--user-data-dir=/tmp/solarmon-kiosk-browser"
    "--force-device-scale-factor=1"
  ]
  ++ k.extraBrowserFlags
  ++ [ k.url ];

  program = pkgs.writeShellScript "solarmon-kiosk" ''
    # Wait (up to 5 min) for Grafana so the first paint is the dashboard, not an error page.
    for _ in $(seq 300); do
      ${lib.getExe pkgs.curl} -fsS -o /dev/null ${grafanaUrl}/api/health && break
      sleep 1
    done
    ${lib.optionalString (k.rotation != "normal") ''
      # Rotate before the browser opens (cage applies transforms only to new clients).
      # Touch input is NOT rotated with it (cage issue #243): prefer the panel's own
      # orientation, or flip touch in the DT overlay (invx/invy/swapxy).
      ${lib.getExe pkgs.wlr-randr} --output ${lib.escapeShellArg k.output} --transform ${k.rotation} || true
    ''}
    exec ${lib.escapeShellArgs browserCommand}
  '';

  backlight = state: pkgs.writeShellScript "solarmon-backlight-${state}" ''
    for bl in /sys/class/backlight/*/bl_power; do
      [ -e "$bl" ] && echo ${if state == "off" then "4" else "0"} > "$bl"
    done
    exit 0
  '';
in
{
  options.services.solarmon.kiosk = {
    enable = lib.mkEnableOption "the full-screen kiosk dashboard on the local display (cage + browser)";

    url = mkOption {
      type = types.str;
      # _dash.hide*: current Grafana shows these controls even in kiosk mode (grafana/README.md).
      default = "${grafanaUrl}/d/solarmon-kiosk?orgId=1&kiosk&_dash.hideTimePicker&_dash.hideVariables&_dash.hideLinks";
      description = "Page the kiosk shows.";
    };

    browser = lib.mkPackageOption pkgs "chromium" { };

    extraBrowserFlags = mkOption {
      type = types.listOf types.str;
      default = [ ];
      # Grafana switches to its one-column layout below 768 px of grid width (800 px
      # screen): keep the zoom at 1, or slightly below (grafana/README.md).
      example = [ "--force-device-scale-factor=0.95" ];
      description = "Extra command-line flags for the browser.";
    };

    user = mkOption {
      type = types.str;
      default = "kiosk";
      description = "Unprivileged user the kiosk session runs as (created; no password, no shell login).";
    };

    output = mkOption {
      type = types.str;
      default = "DSI-1";
      description = "Wayland output name of the display (the 7\" DSI panel is DSI-1 or DSI-2).";
    };

    rotation = mkOption {
      type = types.enum [
        "normal"
        "90"
        "180"
        "270"
      ];
      default = "normal";
      description = "Output rotation (touch input is not rotated by cage; see the module comment).";
    };

    environment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        WLR_RENDERER = "pixman";
      };
      description = "Extra environment for cage (e.g. a software renderer in a VM).";
    };

    screenOff = {
      enable = lib.mkEnableOption "switching the display backlight off at night";
      at = mkOption {
        type = types.str;
        default = "22:30";
        description = "systemd calendar time to switch the backlight off.";
      };
      until = mkOption {
        type = types.str;
        default = "06:30";
        description = "systemd calendar time to switch it back on.";
      };
    };
  };

  config = lib.mkIf (cfg.enable && k.enable) {
    assertions = [
      {
        assertion = cfg.grafana.enable;
        message = "services.solarmon.kiosk.enable: needs services.solarmon.grafana.enable (the kiosk shows Grafana)";
      }
    ];

    users.users.${k.user} = {
      isNormalUser = true;
      description = "solarmon kiosk display";
      extraGroups = [
        "video"
        "input"
      ];
    };

    services.cage = {
      enable = true;
      user = k.user;
      inherit program;
      environment = {
        # Start even when no touch/keyboard is attached yet.
        WLR_LIBINPUT_NO_DEVICES = "1";
      }
      // k.environment;
    };

    systemd.services.cage-tty1 = {
      wants = [ "grafana.service" ];
      after = [ "grafana.service" ];
      # The display must come back on its own, whatever killed the browser.
      serviceConfig = {
        Restart = "always";
        RestartSec = "5s";
      };
      unitConfig.StartLimitIntervalSec = 0;
    };

    fonts.enableDefaultPackages = lib.mkDefault true;

    # Keep the text console from blanking as well (cage itself never blanks).
    boot.kernelParams = [ "consoleblank=0" ];

    systemd.services.solarmon-backlight-off = lib.mkIf k.screenOff.enable {
      description = "solarmon kiosk: backlight off";
      startAt = k.screenOff.at;
      serviceConfig = {
        Type = "oneshot";
        ExecStart = backlight "off";
      };
    };
    systemd.services.solarmon-backlight-on = lib.mkIf k.screenOff.enable {
      description = "solarmon kiosk: backlight on";
      startAt = k.screenOff.until;
      serviceConfig = {
        Type = "oneshot";
        ExecStart = backlight "on";
      };
    };
  };
}

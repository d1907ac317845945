# BlueZ for the collector, and a D-Bus policy that lets the collector's group (and only
# it, besides root) talk to org.bluez. The collector runs as a DynamicUser; its static
# supplementary group is what the D-Bus policy can name.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.solarmon;
  bt = cfg.bluetooth;

  dbusPolicy = pkgs.writeTextDir "share/dbus-1/system.d/solarmon-bluez.conf" ''
    <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
     "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
    <busconfig>
      <!-- solarmon-collect (DynamicUser, SupplementaryGroups=${bt.group}) uses BlueZ:
           GATT connect/read/write/notify and Adapter1.Powered for power-cycling. -->
      <policy group="${bt.group}">
        <allow send_destination="org.bluez"/>
      </policy>
    </busconfig>
  '';
in
{
  options.services.solarmon.bluetooth = {
    enable = lib.mkEnableOption "BlueZ for the solarmon collector" // {
      default = true;
    };
    group = lib.mkOption {
      type = lib.types.str;
      default = "solarmon-ble";
      description = "Group allowed to use org.bluez on the system bus; the collector runs with it.";
    };
  };

  config = lib.mkIf (cfg.enable && bt.enable) {
    hardware.bluetooth = {
      enable = true;
      # The collector needs the adapter powered without anyone logging in.
      powerOnBoot = true;
    };

    users.groups.${bt.group} = { };

    services.dbus.packages = [ dbusPolicy ];
  };
}

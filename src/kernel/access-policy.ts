/**
 * Who may see and who may operate a device, decided in one place for every path — presence, disco, ping, command
 * IQs, ad-hoc commands, chat, and whatever comes next.
 *
 * The rule that keeps devices private: a device a user may not view does not exist for that user. Every path looks
 * the device up through `visible()`, which gives the same answer (undefined) for a hidden device and for a JID that
 * names no device, so every reply built from it — error condition, text, timing of the checks — is the one a
 * non-existent device gets. Only a user who may view a device can learn that it exists, what it is called and which
 * commands it has; only an operator may command it.
 */
import type { Device } from '../devices/device.js';
import type { DeviceRegistry } from '../devices/registry.js';
import { anyMatch } from '../mapping/jid-pattern.js';

export class AccessPolicy {
  constructor(private readonly registry: DeviceRegistry) {}

  /** The device at `deviceJid` (bare), if `user` (bare JID) may view it; undefined for hidden and unknown alike. */
  visible(deviceJid: string, user: string): Device | undefined {
    const device = this.registry.byJid(deviceJid);
    return device && this.mayView(device, user) ? device : undefined;
  }

  /** Viewers see the device (presence, readings, disco); operators see it too. */
  mayView(device: Device, user: string): boolean {
    const { viewers, operators } = device.mapping.access;
    return anyMatch(viewers, user) || anyMatch(operators, user);
  }

  mayOperate(device: Device, user: string): boolean {
    return anyMatch(device.mapping.access.operators, user);
  }
}

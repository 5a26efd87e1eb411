/**
 * The disco feature: the component and its devices answer service discovery (XEP-0030, with XEP-0059 paging of the
 * device list and XEP-0128 device details), pings (XEP-0199) and version requests (XEP-0092). Other features add
 * their namespaces and nodes through the kernel's disco registry.
 *
 * Also notices a second bridge on the same component domain: delivery barriers are pings from the domain to itself
 * whose id names the instance that sent them; ejabberd balances one domain over several connections, so another
 * bridge's barriers reach this one.
 */
import type { Feature } from '../../kernel/feature.js';
import type { Kernel } from '../../kernel/kernel.js';
import { barrierPrefix } from '../../kernel/xmpp-link.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_VERSION } from '../../xmpp/namespaces.js';
import { pingHandler, versionHandler } from './basic.js';
import { discoInfoHandler, discoItemsHandler } from './disco.js';

export class DiscoFeature implements Feature {
  readonly name = 'disco';

  constructor(k: Kernel) {
    const { config, router } = k;
    const deps = { domain: config.xmpp.domain, name: config.xmpp.name, registry: k.registry, access: k.access, contributions: k.disco };
    router.iq('get', NS_DISCO_INFO, 'query', discoInfoHandler(deps));
    router.iq('get', NS_DISCO_ITEMS, 'query', discoItemsHandler(deps));
    const ours = barrierPrefix(k.stores.instanceId);
    router.iq(
      'get',
      NS_PING,
      'ping',
      pingHandler(config.xmpp.domain, k.access, (id) => {
        // In cluster mode the other instances' barriers are expected here (the server spreads the domain's stanzas).
        if (id?.startsWith('barrier-') && !id.startsWith(ours) && !k.cluster.enabled) k.bus.emit('another_instance', { domain: config.xmpp.domain });
      }),
    );
    router.iq('get', NS_VERSION, 'query', versionHandler(config.xmpp.domain));
  }

  start(): void {}

  stop(): void {}
}

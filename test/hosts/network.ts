import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One test host: a network namespace with one address on the run's bridge. */
export interface Host {
  name: string;
  address: string;
  /** The namespace's name (`ip netns`). */
  netns: string;
  /** Its end of the veth pair, on the bridge side: taking it down cuts the host off. */
  link: string;
  /** The command prefix that runs a program on this host (it execs the program: same pid). */
  launcher: string[];
}

/** The harness's own place on the bridge (load generator, registry, observers). */
export const CONTROL = 'control';

const PREFIX = 'trib';

/**
 * Hosts of one test run: a Linux bridge in this network namespace, holding the address of the
 * harness (CONTROL, `.1`), and one network namespace per host joined to it by a veth pair, each
 * with an address of its own in a private /24. Names carry this process's pid, so a run's
 * leftovers (a harness that was SIGKILLed) are recognized and removed by the next run.
 *
 * A partition is what this kernel offers without `tc netem` or a firewall: a host **isolated**
 * has its link to the bridge down (packets to and from it vanish, open connections hang until
 * their timeouts, as behind a dead switch port); two hosts **partitioned** from each other
 * have a blackhole route to the other's address on both sides (nothing passes between them,
 * both still reach everyone else).
 */
export class HostNetwork {
  private readonly hosts = new Map<string, Host>();
  private readonly isolated = new Set<string>();
  private readonly blackholes = new Set<string>();

  private constructor(
    readonly tag: string,
    readonly subnet: string,
  ) {}

  /**
   * Why the hosts cannot be made here, or undefined when they can: tried, not guessed — a
   * namespace (needs CAP_SYS_ADMIN) and a veth pair into it (CAP_NET_ADMIN, the veth driver),
   * each removed again.
   */
  static async unavailable(): Promise<string | undefined> {
    if (process.platform !== 'linux') return `network namespaces are Linux's (this is ${process.platform})`;
    const probe = `${PREFIX}${process.pid}-probe`;
    const steps: Array<[string, string[]]> = [
      ['ip netns add', ['netns', 'add', probe]],
      [
        'ip link add … type veth',
        ['link', 'add', `${PREFIX}${process.pid}p`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', probe],
      ],
    ];
    try {
      for (const [what, args] of steps) {
        try {
          await run('ip', args);
        } catch (err) {
          const e = err as { code?: string; stderr?: string; message: string };
          if (e.code === 'ENOENT') return 'the `ip` command (iproute2) is not installed';
          return `\`${what}\` is not allowed here (${(e.stderr ?? e.message).trim().split('\n')[0]})`;
        }
      }
      return undefined;
    } finally {
      // Removing the namespace removes the veth pair with it.
      await run('ip', ['netns', 'del', probe]).catch(() => undefined);
    }
  }

  /** Creates the bridge and one namespace per name, removing a dead run's leftovers first. */
  static async create(names: string[]): Promise<HostNetwork> {
    await removeLeftovers();
    const subnet = await freeSubnet();
    const net = new HostNetwork(`${PREFIX}${process.pid}`, subnet);
    const bridge = `${net.tag}br`;
    await ip('link', 'add', bridge, 'type', 'bridge');
    await ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
    await ip('link', 'set', bridge, 'up');
    net.hosts.set(CONTROL, { name: CONTROL, address: `${subnet}.1`, netns: '', link: bridge, launcher: [] });
    for (const [i, name] of names.entries()) {
      const netns = `${net.tag}-${name}`;
      const link = `${net.tag}v${i}`;
      const address = `${subnet}.${10 + i}`;
      await ip('netns', 'add', netns);
      await ip('link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
      await ip('link', 'set', link, 'master', bridge, 'up');
      await ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      await ip('-n', netns, 'link', 'set', 'eth0', 'up');
      await ip('-n', netns, 'link', 'set', 'lo', 'up');
      net.hosts.set(name, { name, address, netns, link, launcher: ['ip', 'netns', 'exec', netns] });
    }
    return net;
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (!h) throw new RangeError(`no host ${name}`);
    return h;
  }

  /** Cuts `name` off from every other host (its bridge port down). */
  async isolate(name: string): Promise<void> {
    if (name === CONTROL) throw new RangeError('the harness cannot isolate itself');
    await ip('link', 'set', this.host(name).link, 'down');
    this.isolated.add(name);
  }

  /** Nothing passes between `a` and each of `others` any more (both directions); the rest still reach both. */
  async partition(a: string, others: string[]): Promise<void> {
    for (const b of others) {
      await this.blackhole(a, b);
      await this.blackhole(b, a);
    }
  }

  /** Undoes every isolation and partition. */
  async heal(): Promise<void> {
    for (const name of this.isolated) await ip('link', 'set', this.host(name).link, 'up');
    this.isolated.clear();
    for (const entry of this.blackholes) {
      const [from, to] = entry.split('>') as [string, string];
      await ip(...this.on(from), 'route', 'del', 'blackhole', `${this.host(to).address}/32`);
    }
    this.blackholes.clear();
  }

  /** Removes the namespaces and the bridge (the processes in them must be stopped first). */
  async remove(): Promise<void> {
    for (const h of this.hosts.values()) if (h.netns) await run('ip', ['netns', 'del', h.netns]).catch(() => undefined);
    await run('ip', ['link', 'del', `${this.tag}br`]).catch(() => undefined);
  }

  private async blackhole(from: string, to: string): Promise<void> {
    const entry = `${from}>${to}`;
    if (this.blackholes.has(entry)) return;
    await ip(...this.on(from), 'route', 'add', 'blackhole', `${this.host(to).address}/32`);
    this.blackholes.add(entry);
  }

  /** `ip` arguments that act inside `name`'s namespace (none for the harness's own). */
  private on(name: string): string[] {
    const h = this.host(name);
    return h.netns ? ['-n', h.netns] : [];
  }
}

async function ip(...args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (err) {
    throw new Error(`ip ${args.join(' ')}: ${((err as { stderr?: string }).stderr ?? String(err)).trim()}`);
  }
}

/** A 10.77–10.126.x.0/24 that no interface of this namespace uses yet. */
async function freeSubnet(): Promise<string> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show']);
  for (let i = 0; i < 50 * 256; i++) {
    const n = (process.pid + i) % (50 * 256);
    const subnet = `10.${77 + Math.floor(n / 256)}.${n % 256}`;
    if (!stdout.includes(` ${subnet}.`)) return subnet;
  }
  throw new Error('no free 10.x.y.0/24 for the test hosts');
}

/** Namespaces and bridges of runs whose harness is gone (SIGKILLed before its clean-up). */
async function removeLeftovers(): Promise<void> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return pid !== process.pid;
    } catch {
      return false;
    }
  };
  const owner = new RegExp(`^${PREFIX}(\\d+)`);
  const { stdout: spaces } = await run('ip', ['netns', 'list']);
  for (const line of spaces.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = owner.exec(name);
    if (m && !alive(Number(m[1]))) await run('ip', ['netns', 'del', name]).catch(() => undefined);
  }
  const { stdout: links } = await run('ip', ['-o', 'link', 'show', 'type', 'bridge']);
  for (const line of links.split('\n')) {
    const name = (line.split(': ')[1] ?? '').split('@')[0] ?? '';
    const m = owner.exec(name);
    if (m && !alive(Number(m[1]))) await run('ip', ['link', 'del', name]).catch(() => undefined);
  }
}

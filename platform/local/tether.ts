import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

/**
 * Ties a child started with `detached: true` (its own process group: Ctrl-C reaches only the
 * supervisor, which stops the stages in order) to this process's life, however this process
 * ends — SIGKILL, the OOM killer, a closed terminal, a CI timeout. A tiny watchdog (`sh`, in a
 * group of its own) holds the read end of a pipe from this process; when this process dies the
 * kernel closes the pipe, `read` returns, and the watchdog sends SIGTERM to the child's whole
 * group (a JVM and the threads it forks, a RabbitMQ node and its Erlang VM, a stage), then
 * SIGKILL 5 s later. No native module, works for JVMs as for Node children. When the child exits
 * first, the watchdog is stopped, so it can never signal a reused group id.
 */
export function tether(child: ChildProcess): void {
  if (process.platform === 'win32' || child.pid === undefined) return;
  // POSIX sh (dash): no `--` before a negative pid, which names the process group.
  const script = 'read _ignored; kill -TERM "-$1" 2>/dev/null; sleep 5; kill -KILL "-$1" 2>/dev/null';
  const watchdog = spawn('sh', ['-c', script, 'tributary-tether', String(child.pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  // Neither the watchdog nor its pipe may keep this process's event loop alive.
  watchdog.unref();
  (watchdog.stdin as Socket | null)?.unref();
  watchdog.on('error', () => undefined);
  const release = () => {
    if (watchdog.exitCode === null && watchdog.signalCode === null) watchdog.kill('SIGKILL');
  };
  if (child.exitCode !== null || child.signalCode !== null) release();
  else child.once('exit', release);
}

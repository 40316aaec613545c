import { Command, CommanderError } from 'commander';
import { errorCode, errorMessage, exitStatus } from '../platform/errors';
import { quietHarmlessWarnings } from '../platform/logger';
import { processContext, type CliContext } from './context';
import { kafkaCommand } from './kafka';
import { topicsCommand } from './topics';
import { bridgeCommand } from './bridge';
import { dashboardCommand, ingestCommand, processCommand, registryCommand, sinkCommand } from './stages';
import { startCommand } from './start';
import { demoCommand } from './demo';
import { replayCommand } from './replay';
import { lagCommand } from './lag';
import { dlqCommand } from './dlq';
import { rollupsCommand } from './rollups';
import { eventsCommand } from './events';

/**
 * `tributary <command>`: every stage and operator tool behind one binary. This folder is the
 * composition root: each command builds its dependencies from the validated config and stops
 * them in reverse order on SIGINT/SIGTERM. Nothing imports cli/.
 */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('tributary')
    .description('Event-streaming analytics on Kafka and ClickHouse')
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: false });
  for (const command of [
    startCommand(ctx),
    demoCommand(ctx),
    replayCommand(ctx),
    lagCommand(ctx),
    dlqCommand(ctx),
    rollupsCommand(ctx),
    eventsCommand(ctx),
    kafkaCommand(ctx),
    topicsCommand(ctx),
    registryCommand(ctx),
    ingestCommand(ctx),
    bridgeCommand(ctx),
    processCommand(ctx),
    sinkCommand(ctx),
    dashboardCommand(ctx),
  ])
    program.addCommand(command);
  // Commander's own errors and help go through the context too, and throw instead of exiting.
  const configure = (command: Command) => {
    command.exitOverride().configureOutput({ writeOut: ctx.out, writeErr: ctx.err });
    command.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/**
 * Runs the program and resolves with its exit code once the command's action has finished
 * (a stage keeps running after that, held by its servers and consumers). A failure is one line
 * on stderr naming what went wrong; the stack only with DEBUG set.
 */
export async function runCli(argv: string[], ctx: CliContext = processContext()): Promise<number> {
  try {
    await buildProgram(ctx).parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander has printed its message
    // One line; the exit status says whether to fix something (1), try again later (75) or report a bug (70).
    const code = errorCode(err);
    ctx.err(`tributary: ${errorMessage(err)}\n`);
    if (ctx.env.DEBUG) ctx.err(`(${code})${err instanceof Error && err.stack ? ` ${err.stack}` : ''}\n`);
    return exitStatus(code);
  }
}

export function main(argv: string[] = process.argv): void {
  quietHarmlessWarnings();
  void runCli(argv).then((code) => {
    if (code !== 0) process.exit(code);
  });
}

if (require.main === module) main();

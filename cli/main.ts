import { Command } from 'commander';
import { kafkaCommand } from './kafka';
import { topicsCommand } from './topics';
import { registryCommand } from './registry';
import { ingestCommand } from './ingest';
import { bridgeCommand } from './bridge';
import { processCommand } from './process';
import { sinkCommand } from './sink';
import { startCommand } from './start';
import { demoCommand } from './demo';
import { dashboardCommand } from './dashboard';
import { replayCommand } from './replay';
import { lagCommand } from './lag';
import { dlqCommand } from './dlq';
import { failAndExit } from './fail';

/**
 * `tributary <command>`: every stage and operator tool behind one binary. Each command builds
 * its own dependencies from the validated config (its composition root) and stops them in
 * reverse order on SIGINT/SIGTERM.
 */
export function buildProgram(): Command {
  const program = new Command('tributary')
    .description('Event-streaming analytics on Kafka and ClickHouse')
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: false });
  program.addCommand(startCommand());
  program.addCommand(demoCommand());
  program.addCommand(replayCommand());
  program.addCommand(lagCommand());
  program.addCommand(dlqCommand());
  program.addCommand(kafkaCommand());
  program.addCommand(topicsCommand());
  program.addCommand(registryCommand());
  program.addCommand(ingestCommand());
  program.addCommand(bridgeCommand());
  program.addCommand(processCommand());
  program.addCommand(sinkCommand());
  program.addCommand(dashboardCommand());
  return program;
}

export function main(argv: string[] = process.argv): void {
  buildProgram().parseAsync(argv).catch(failAndExit);
}

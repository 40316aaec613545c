/**
 * What a command gets from the process it runs in, passed in rather than read from globals so
 * that tests can run the program in-process: the environment, where output goes, and how to
 * launch this same program again (the stages `tributary start` supervises).
 */
export interface CliContext {
  env: NodeJS.ProcessEnv;
  /** Command output (tables, banners): stdout. Logs go to stderr through the logger. */
  out: (text: string) => void;
  /** One-line errors: stderr. */
  err: (text: string) => void;
  /** Whether `out` is a terminal (a person reads it) rather than a file or a log collector. */
  outIsTerminal?: boolean;
  /** `node [flags] <entry script>`: run with a command's arguments, this same program. */
  self: string[];
}

export function processContext(): CliContext {
  return {
    env: process.env,
    out: (text) => {
      process.stdout.write(text);
    },
    err: (text) => {
      process.stderr.write(text);
    },
    outIsTerminal: process.stdout.isTTY === true,
    self: [process.execPath, ...process.execArgv, process.argv[1]!],
  };
}

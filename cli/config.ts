import { z } from 'zod';
import { ConfigError, parseSettings, platformSection, type Config } from '../platform/config';
import { schemasSection } from '../schemas/config';
import { overflowProblem } from '../schemas/limits';
import { producersSection } from '../producers/config';
import { streamsSection } from '../streams/config';
import { consumersSection } from '../consumers/config';
import { dashboardsSection } from '../dashboards/config';

/** Every folder's settings, composed: what Tributary reads from the environment (docs/configuration.md). */
export const SECTIONS = [
  platformSection,
  schemasSection,
  producersSection,
  streamsSection,
  consumersSection,
  dashboardsSection,
] as const;

/** Every variable Tributary reads, with its schema and default (the sections' settings side by side). */
export const envSchema = z.object({
  ...platformSection.settings,
  ...schemasSection.settings,
  ...producersSection.settings,
  ...streamsSection.settings,
  ...consumersSection.settings,
  ...dashboardsSection.settings,
});

export type Env = z.infer<typeof envSchema>;
export type { Config };

/** Parses the environment; throws a ConfigError naming every bad variable and what it expects. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const e = parseSettings(envSchema, env);
  const config = Object.assign({}, ...SECTIONS.map((s) => (s.build as (e: Env) => object)(e))) as Config;
  // Across sections: the processor's sums must stay exact for the events' bounds (docs/processing.md).
  const overflow = overflowProblem(config.eventLimits, config.processor.segmentSize);
  if (overflow) throw new ConfigError(`invalid environment: ${overflow}`);
  return config;
}

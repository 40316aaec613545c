import countries from 'country-list/data.json';
import { codes as currencyCodes } from 'currency-codes';

/**
 * The codes a currency or country dimension may take: ISO 4217 (the `currency-codes` package's
 * list) and ISO 3166-1 alpha-2 (`country-list`'s), plus what EXTRA_CURRENCIES and
 * EXTRA_COUNTRIES add. A made-up code of the right shape is refused like any wrong value: each
 * would be a group of its own in every answer that splits by it.
 */
const ISO_4217: ReadonlySet<string> = new Set(currencyCodes());
const ISO_3166_1: ReadonlySet<string> = new Set((countries as Array<{ code: string }>).map((c) => c.code));

const withExtras = new WeakMap<readonly string[], ReadonlySet<string>>();

function known(base: ReadonlySet<string>, extra: readonly string[] | undefined, code: string): boolean {
  if (base.has(code)) return true;
  if (!extra || extra.length === 0) return false;
  let set = withExtras.get(extra);
  if (!set) withExtras.set(extra, (set = new Set(extra)));
  return set.has(code);
}

export const isCurrency = (code: string, extra?: readonly string[]) => known(ISO_4217, extra, code);
export const isCountry = (code: string, extra?: readonly string[]) => known(ISO_3166_1, extra, code);

/** ClickHouse DateTime64(3) text in UTC: 2026-11-27 20:00:00.000 */
export function chTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

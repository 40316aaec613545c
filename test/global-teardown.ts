export default async function globalTeardown(): Promise<void> {
  await globalThis.__TRIBUTARY_KAFKA__?.stop();
}

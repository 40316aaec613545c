// Part of `npm run build`: the files the compiled code reads beside itself (Avro schemas, the
// dashboard's page, the Maven manifests of the local launchers), copied to the same places under dist/.
const { cpSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
for (const asset of [
  'schemas/avro',
  'dashboards/public',
  'rollups/examples',
  'rollups/builtin.yaml',
  'events/examples',
  'platform/local/kafka/pom.xml',
  'platform/local/elasticmq/pom.xml',
]) {
  cpSync(path.join(root, asset), path.join(root, 'dist', asset), { recursive: true });
}

import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SendMessageCommand,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import { parse } from 'yaml';
import { silentLogger } from '../../platform/logger';
import { freePort } from '../../platform/local/ports';
import { sqsClient } from './sqs';
import { LocalSqs } from '../../platform/local/elasticmq';

/**
 * docker-compose's `sqs` profile mounts deploy/elasticmq.conf into ElasticMQ; Docker cannot run
 * here, so the same file is loaded into the same server (ElasticMQ from Maven Central) and the
 * queue the compose bridge is given must exist, with its redrive policy, and carry messages.
 */
describe('deploy/elasticmq.conf (docker compose --profile sqs)', () => {
  const root = path.resolve(__dirname, '..', '..');
  const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, { environment?: Record<string, string>; volumes?: string[] }>;
  };
  const composeQueueUrl = new URL(compose.services['bridge-sqs']!.environment!.SQS_QUEUE_URL!);
  const mounted = compose.services
    .elasticmq!.volumes!.map((v) => v.split(':'))
    .find(([, target]) => target === '/opt/elasticmq.conf')!;
  let sqs: LocalSqs;

  beforeAll(async () => {
    sqs = await LocalSqs.start({
      dataDir: mkdtempSync(path.join(os.tmpdir(), 'tributary-sqs-conf-')),
      mavenRepo: process.env.TRIBUTARY_TEST_MAVEN_REPO ?? path.join(root, '.tributary', 'maven'),
      logger: silentLogger,
      port: await freePort(),
      include: path.resolve(root, mounted[0]!),
    });
  });
  afterAll(async () => {
    await sqs?.stop();
  });

  it('creates the queue the compose bridge reads, with a redrive policy, and it carries messages', async () => {
    const queueName = composeQueueUrl.pathname.split('/').pop()!;
    const localUrl = `${sqs.endpoint}${composeQueueUrl.pathname}`;
    const client = sqsClient({ queueUrl: localUrl });
    try {
      const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: queueName }));
      expect(new URL(QueueUrl!).pathname).toBe(composeQueueUrl.pathname);
      const { Attributes } = await client.send(
        new GetQueueAttributesCommand({ QueueUrl: localUrl, AttributeNames: ['All'] }),
      );
      expect(JSON.parse(Attributes!.RedrivePolicy!)).toEqual({
        deadLetterTargetArn: expect.stringMatching(new RegExp(`:${queueName}-dead$`)),
        maxReceiveCount: 10,
      });
      expect(Attributes!.ReceiveMessageWaitTimeSeconds).toBe('20');
      await client.send(new SendMessageCommand({ QueueUrl: localUrl, MessageBody: '{"type":"signup"}' }));
      const { Messages } = await client.send(new ReceiveMessageCommand({ QueueUrl: localUrl, WaitTimeSeconds: 1 }));
      expect(Messages?.map((m) => m.Body)).toEqual(['{"type":"signup"}']);
    } finally {
      client.destroy();
    }
  });
});

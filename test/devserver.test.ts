/**
 * `npm run temporal` keeps its state in DATA_DIR: a workflow started on it is still there
 * after the process group is killed with SIGKILL and started again on the same directory. Its
 * web UI reads payloads through the gateway's codec endpoint.
 */
import { Client, Connection } from '@temporalio/client';
import { PAYMENT_WORKFLOW, workflowIdFor } from '../src/domain/contract';
import { freePort, waitForTcp } from '../src/net';
import { eventually } from './helpers/eventually';
import { type Proc, startEntry } from './helpers/processes';
import { tempDir } from './helpers/servers';

jest.setTimeout(120_000);

async function devServer(env: Record<string, string>): Promise<Proc> {
  const proc = startEntry('tools/devserver.ts', env);
  const [host, port] = env.TEMPORAL_ADDRESS!.split(':');
  await waitForTcp(host!, Number(port), 30_000);
  return proc;
}

test('a workflow survives SIGKILL and restart of the dev server on the same DATA_DIR', async () => {
  const address = `127.0.0.1:${await freePort()}`;
  const env = { TEMPORAL_ADDRESS: address, DATA_DIR: tempDir('devserver'), PORT: '8123' };
  const workflowId = workflowIdFor('survives-restart');

  let server = await devServer(env);
  try {
    let connection = await Connection.connect({ address });
    // No worker runs here: the workflow stays open, so only the server's own storage can keep it.
    await new Client({ connection }).workflow.start(PAYMENT_WORKFLOW, { workflowId, taskQueue: 'nobody-polls', args: [{}] });
    await connection.close();

    server.kill('SIGKILL');
    await server.exited;
    server = await devServer(env);

    connection = await Connection.connect({ address });
    const description = await new Client({ connection }).workflow.getHandle(workflowId).describe();
    await connection.close();
    expect(description.type).toBe(PAYMENT_WORKFLOW);
    expect(description.status.name).toBe('RUNNING');

    const uiPort = Number(address.split(':')[1]) + 1000;
    // The UI listens a moment after the frontend does.
    const settings = await eventually('the web UI answers', () =>
      fetch(`http://127.0.0.1:${uiPort}/api/v1/settings`).then(
        async (response) => (await response.json()) as { Codec?: { Endpoint?: string } },
        () => undefined,
      ),
    );
    expect(settings.Codec?.Endpoint).toBe('http://127.0.0.1:8123/codec');
  } finally {
    server.kill('SIGKILL');
  }
});

test('a bad TEMPORAL_ADDRESS stops it with a message naming the variable', async () => {
  const proc = startEntry('tools/devserver.ts', { TEMPORAL_ADDRESS: 'nowhere', DATA_DIR: tempDir('devserver') });
  expect(await proc.exited).toBe(2);
  expect(proc.output()).toContain('TEMPORAL_ADDRESS');
});

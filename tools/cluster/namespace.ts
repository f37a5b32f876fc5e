/** The payments' namespace on the cluster: registered with the retention asked, or brought to it. */
import { status } from '@grpc/grpc-js';
import { type Connection, isGrpcServiceError } from '@temporalio/client';
import { msToTs, tsToMs } from '@temporalio/common/lib/time';

export async function ensureNamespace(
  connection: Connection,
  namespace: string,
  retentionMs: number,
  say: (line: string) => void,
): Promise<void> {
  const service = connection.workflowService;
  try {
    await service.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(retentionMs) });
    say(`registered namespace ${namespace}, retention ${retentionMs / 3_600_000} h`);
    return;
  } catch (err) {
    if (!isGrpcServiceError(err) || err.code !== status.ALREADY_EXISTS) throw err;
  }
  const described = await service.describeNamespace({ namespace });
  const current = tsToMs(described.config?.workflowExecutionRetentionTtl);
  if (current !== retentionMs) {
    await service.updateNamespace({ namespace, config: { workflowExecutionRetentionTtl: msToTs(retentionMs) } });
    say(`namespace ${namespace}: retention ${current / 3_600_000} h -> ${retentionMs / 3_600_000} h`);
  }
}

/**
 * Service metrics as CloudWatch embedded metric format (EMF): one JSON line per record on stdout, which CloudWatch
 * Logs turns into metrics for a Lambda function without any API call or extra permission. Alarms are set on them
 * (infra/README.md "Deploying a stage"): a drift alert of an audit becomes `imagedrift/AuditAlert` = 1.
 * Elsewhere (the worker on a GPU node, tests) the lines are plain JSON and can be ignored or collected.
 */

const METRICS_NAMESPACE = 'imagedrift';

export type MetricUnit = 'Count' | 'None';

/** One EMF record: dimension values and metric values as top-level fields, described by `_aws`. */
export function metricRecord(dimensions: Readonly<Record<string, string>>, metrics: Readonly<Record<string, { value: number; unit: MetricUnit }>>, at = Date.now()): Record<string, unknown> {
  const values = Object.fromEntries(Object.entries(metrics).filter(([, m]) => Number.isFinite(m.value)).map(([name, m]) => [name, m.value]));
  return {
    _aws: {
      Timestamp: at,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          Dimensions: [Object.keys(dimensions)],
          Metrics: Object.keys(values).map((name) => ({ Name: name, Unit: metrics[name]!.unit })),
        },
      ],
    },
    ...dimensions,
    ...values,
  };
}

/** Where metric records go. */
export type MetricSink = (record: Record<string, unknown>) => void;

/** Lambda's stdout, which CloudWatch Logs reads EMF from. */
export const stdoutMetrics: MetricSink = (record) => {
  process.stdout.write(`${JSON.stringify(record)}\n`);
};

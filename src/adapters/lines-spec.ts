import { UsageError } from '../errors.js';
import { FileAdapter } from './file.js';
import type { AdapterSpec } from './spec.js';
import { StdinAdapter } from './stdin.js';

/** `--adapter stdin`: the default when no `--input` is given. */
export const stdinSpec: AdapterSpec = {
  name: 'stdin',
  summary: 'lines from standard input (no redelivery: a nacked line becomes a dead letter)',
  flags: {},
  create: (_values, common) => new StdinAdapter({ maxMessageBytes: common.maxMessageBytes }),
};

/** `--adapter file`: the default when `--input` is given. */
export const fileSpec: AdapterSpec = {
  name: 'file',
  summary: 'lines from files, read in order; - is standard input (no redelivery)',
  flags: {
    input: { type: 'string', multiple: true, description: 'a file to read, one message per line; repeat for more, - for stdin' },
  },
  create: (values, common) => {
    const inputs = (values['input'] as string[] | undefined) ?? [];
    if (inputs.length === 0) throw new UsageError('--adapter file needs at least one --input FILE (or - for stdin)');
    return new FileAdapter(inputs, { maxMessageBytes: common.maxMessageBytes });
  },
};

import { UsageError } from '../errors.js';
import { FileAdapter } from './file.js';
import { DEFAULT_BLOCK_BYTES } from './lines.js';
import { wholeNumberFlag, type AdapterSpec, type FlagSpec } from './spec.js';
import { StdinAdapter } from './stdin.js';

/** The flag both line adapters take. */
const blockBytes: FlagSpec = {
  type: 'string',
  default: String(DEFAULT_BLOCK_BYTES),
  description: 'most bytes of input per block, the unit a worker splits into lines and handles',
};

const blockBytesOf = (values: Readonly<Record<string, unknown>>) =>
  wholeNumberFlag(values, 'block-bytes', DEFAULT_BLOCK_BYTES, 1);

/** `--adapter stdin`: the default when no `--input` is given. */
export const stdinSpec: AdapterSpec = {
  name: 'stdin',
  summary: 'lines from standard input (no redelivery: a nacked line becomes a dead letter)',
  flags: { 'block-bytes': blockBytes },
  create: (values, common) =>
    new StdinAdapter({ maxMessageBytes: common.maxMessageBytes, blockBytes: blockBytesOf(values) }),
};

/** `--adapter file`: the default when `--input` is given. */
export const fileSpec: AdapterSpec = {
  name: 'file',
  summary: 'lines from files, read in order; - is standard input (no redelivery)',
  flags: {
    input: {
      type: 'string',
      multiple: true,
      description: 'a file to read, one message per line; repeat for more, - for stdin',
    },
    'block-bytes': blockBytes,
  },
  create: (values, common) => {
    const inputs = (values['input'] as string[] | undefined) ?? [];
    if (inputs.length === 0) throw new UsageError('--adapter file needs at least one --input FILE (or - for stdin)');
    return new FileAdapter(inputs, {
      maxMessageBytes: common.maxMessageBytes,
      blockBytes: blockBytesOf(values),
      log: common.log,
    });
  },
};

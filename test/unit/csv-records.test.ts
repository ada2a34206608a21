import { describe, expect, it } from 'vitest';
import {
  CsvRecordSplitter,
  MAX_RAW_BYTES,
  MAX_RECORD_BYTES,
  cutToBytes,
  splitFirstRecord,
  splitQuotedFields,
  type RecordProblem,
} from '../../src/modules/importer/csv-records.js';

type Event =
  | { kind: 'record'; fields: string[]; line: number; raw: string }
  | { kind: 'problem'; reason: RecordProblem; line: number; raw: string };

function collector(startLine?: number): { splitter: CsvRecordSplitter; events: Event[] } {
  const events: Event[] = [];
  const splitter = new CsvRecordSplitter(
    {
      record: (fields, line, raw) => events.push({ kind: 'record', fields, line, raw }),
      problem: (reason, line, raw) => events.push({ kind: 'problem', reason, line, raw }),
    },
    startLine,
  );
  return { splitter, events };
}

const bytes = (input: string | Buffer): Buffer =>
  typeof input === 'string' ? Buffer.from(input, 'utf8') : input;

/** Pushes `input` in the given chunk sizes (the last chunk takes the rest) and ends. */
function split(
  input: string | Buffer,
  chunkSizes?: number[] | number,
  startLine?: number,
): Event[] {
  const { splitter, events } = collector(startLine);
  for (const chunk of chunksOf(bytes(input), chunkSizes)) splitter.push(chunk);
  splitter.end();
  return events;
}

function chunksOf(data: Buffer, chunkSizes?: number[] | number): Buffer[] {
  if (chunkSizes === undefined) return [data];
  const chunks: Buffer[] = [];
  let pos = 0;
  let i = 0;
  while (pos < data.length) {
    const size =
      typeof chunkSizes === 'number' ? chunkSizes : (chunkSizes[i++ % chunkSizes.length] as number);
    chunks.push(data.subarray(pos, pos + Math.max(1, size)));
    pos += Math.max(1, size);
  }
  return chunks;
}

/** A small deterministic PRNG (mulberry32), so random chunkings are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomSizes(seed: number, count: number, max: number): number[] {
  const next = prng(seed);
  return Array.from({ length: count }, () => 1 + Math.floor(next() * max));
}

/** A compact view of events, so failures with 64 KiB fields stay readable. */
const summary = (events: Event[]): string[] =>
  events.map((e) =>
    e.kind === 'record'
      ? `record@${e.line}:${e.fields.map((f) => (f.length > 20 ? `<${f.length} chars>` : f)).join('|')}`
      : `${e.reason}@${e.line}`,
  );

const rec = (fields: string[], line: number, raw = fields.join(',')): Event => ({
  kind: 'record',
  fields,
  line,
  raw,
});

describe('CsvRecordSplitter: line endings and blank lines', () => {
  it('when records end in LF, then each is split into fields with its line number', () => {
    expect(split('a,b,c\nd,e,f\n')).toEqual([rec(['a', 'b', 'c'], 1), rec(['d', 'e', 'f'], 2)]);
  });

  it('when records end in CRLF, then the CR is not part of the last field nor of the raw text', () => {
    expect(split('a,b,c\r\nd,e,f\r\n')).toEqual([rec(['a', 'b', 'c'], 1), rec(['d', 'e', 'f'], 2)]);
  });

  it('when LF and CRLF are mixed, then both end records', () => {
    expect(split('a,1\r\nb,2\nc,3\r\nd,4\n')).toEqual([
      rec(['a', '1'], 1),
      rec(['b', '2'], 2),
      rec(['c', '3'], 3),
      rec(['d', '4'], 4),
    ]);
  });

  it('when there are blank and white-space-only lines, then they are skipped but counted', () => {
    expect(split('a,1\n\n   \n\r\n\t\nb,2\n\n')).toEqual([rec(['a', '1'], 1), rec(['b', '2'], 6)]);
  });

  it('when the input starts with blank lines, then the first record has its physical line number', () => {
    expect(split('\n\r\nx,y\n')).toEqual([rec(['x', 'y'], 3)]);
  });

  it('when a start line is given, then numbering continues from it', () => {
    expect(split('a\n\nb\n', undefined, 41)).toEqual([rec(['a'], 41), rec(['b'], 43)]);
  });

  it('when a record has empty fields, then they are kept as empty strings', () => {
    expect(split(',a,,b,\n')).toEqual([rec(['', 'a', '', 'b', ''], 1)]);
  });

  it('when fields have spaces around them, then the splitter keeps the spaces (rules trim later)', () => {
    expect(split(' a , b \n')).toEqual([rec([' a ', ' b '], 1)]);
  });

  it('when the input is empty, then nothing is emitted', () => {
    expect(split('')).toEqual([]);
    expect(split('\n\n')).toEqual([]);
  });
});

describe('CsvRecordSplitter: quoted fields', () => {
  it('when a quoted field holds commas, then it stays one field', () => {
    expect(split('1,"Ikeja, Lagos",3\n')).toEqual([
      rec(['1', 'Ikeja, Lagos', '3'], 1, '1,"Ikeja, Lagos",3'),
    ]);
  });

  it('when a quoted field holds doubled quotes, then each pair becomes one quote', () => {
    expect(split('"He said ""hi""",""""\n')).toEqual([
      rec(['He said "hi"', '"'], 1, '"He said ""hi""",""""'),
    ]);
  });

  it('when a quoted field is empty, then the field is empty', () => {
    expect(split('a,"",b\n')).toEqual([rec(['a', '', 'b'], 1, 'a,"",b')]);
  });

  it('when a quoted field holds line breaks, then the record spans lines and has its first line number', () => {
    const input = 'h1,h2\n"multi\nline\nvalue",2\nnext,3\n';
    expect(split(input)).toEqual([
      rec(['h1', 'h2'], 1),
      rec(['multi\nline\nvalue', '2'], 2, '"multi\nline\nvalue",2'),
      rec(['next', '3'], 5),
    ]);
  });

  it('when a quoted field holds CRLF, then the CRLF is kept inside the value and the record ending is dropped', () => {
    expect(split('"a\r\nb",c\r\nd,e\r\n')).toEqual([
      rec(['a\r\nb', 'c'], 1, '"a\r\nb",c'),
      rec(['d', 'e'], 3),
    ]);
  });

  it('when a quoted field holds a blank line, then the blank line belongs to the field', () => {
    expect(split('"a\n\nb",c\nd\n')).toEqual([
      rec(['a\n\nb', 'c'], 1, '"a\n\nb",c'),
      rec(['d'], 4),
    ]);
  });

  it('when a quote appears in the middle of an unquoted field, then it is an ordinary character', () => {
    expect(split('ab"c,d\ne,f\n')).toEqual([rec(['ab"c', 'd'], 1), rec(['e', 'f'], 2)]);
  });

  it('when the last quoted field is never closed, then end() emits the rest as that field', () => {
    expect(split('a,b\nc,"open\nstill')).toEqual([
      rec(['a', 'b'], 1),
      rec(['c', 'open\nstill'], 2, 'c,"open\nstill'),
    ]);
  });
});

describe('CsvRecordSplitter: end of input', () => {
  it('when the input has no trailing newline, then end() flushes the last record', () => {
    const { splitter, events } = collector();
    splitter.push(Buffer.from('a,b\nc,d'));
    expect(events).toEqual([rec(['a', 'b'], 1)]);
    splitter.end();
    expect(events).toEqual([rec(['a', 'b'], 1), rec(['c', 'd'], 2)]);
  });

  it('when the splitter is restarted mid-record, then nothing of the old input reaches the new one', () => {
    const { splitter, events } = collector();
    splitter.push(Buffer.from('a,b\nc,"open quote, no end'));
    splitter.restart(7);
    splitter.push(Buffer.from('x,y\nz,w\n'));
    splitter.end();
    expect(events).toEqual([rec(['a', 'b'], 1), rec(['x', 'y'], 7), rec(['z', 'w'], 8)]);
    expect(splitter.consumedBytes).toBe(8);
  });

  it('when the last record ends in a bare CR, then the CR is not part of the field', () => {
    expect(split('a,b\r')).toEqual([rec(['a', 'b'], 1)]);
  });

  it('when the input ends with a newline, then end() emits nothing more', () => {
    const { splitter, events } = collector();
    splitter.push(Buffer.from('a,b\n'));
    splitter.end();
    expect(events).toEqual([rec(['a', 'b'], 1)]);
  });

  it('when end() has run, then consumedBytes covers the whole input', () => {
    const { splitter } = collector();
    splitter.push(Buffer.from('a,b\nc,d'));
    expect(splitter.consumedBytes).toBe(4);
    splitter.end();
    expect(splitter.consumedBytes).toBe(7);
  });
});

describe('CsvRecordSplitter: UTF-8', () => {
  it('when fields hold multi-byte characters, then they are decoded', () => {
    expect(split('₦500,Ọ̀yọ́,😀\n')).toEqual([rec(['₦500', 'Ọ̀yọ́', '😀'], 1)]);
  });

  it('when a multi-byte character is split across chunks at every possible byte, then it is decoded intact', () => {
    const input = Buffer.from('x,₦,😀\ny,é\n');
    const expected = [rec(['x', '₦', '😀'], 1), rec(['y', 'é'], 2)];
    for (let cut = 1; cut < input.length; cut += 1) {
      const { splitter, events } = collector();
      splitter.push(input.subarray(0, cut));
      splitter.push(input.subarray(cut));
      splitter.end();
      expect(events, `cut at byte ${cut}`).toEqual(expected);
    }
  });

  it('when a record holds an invalid byte, then only that record is an invalid_encoding problem', () => {
    const input = Buffer.concat([
      Buffer.from('a,b\n'),
      Buffer.from([0xff]),
      Buffer.from('\nc,₦\n'),
    ]);
    expect(split(input)).toEqual([
      rec(['a', 'b'], 1),
      { kind: 'problem', reason: 'invalid_encoding', line: 2, raw: '\uFFFD' },
      rec(['c', '₦'], 3),
    ]);
  });

  it('when a record is not UTF-8, then its field count is given with the problem (quotes honoured), so a wrong count can win', () => {
    const counts: Array<number | undefined> = [];
    const splitter = new CsvRecordSplitter({
      record: () => undefined,
      problem: (_reason, _line, _raw, fieldCount) => counts.push(fieldCount),
    });
    for (const chunk of [
      Buffer.from('a,\xff,"b,c"\n', 'latin1'),
      Buffer.from('\xff\n"x,\xff', 'latin1'),
    ])
      splitter.push(chunk);
    splitter.end();
    expect(counts).toEqual([3, 1, 1]);
  });

  it('when a record holds a truncated multi-byte sequence, then it is invalid_encoding with a readable raw', () => {
    const input = Buffer.concat([
      Buffer.from('ok,1\nbad,'),
      Buffer.from([0xe2, 0x82]),
      Buffer.from(',x\r\nok,2\n'),
    ]);
    const events = split(input);
    expect(events).toHaveLength(3);
    expect(events[0]).toEqual(rec(['ok', '1'], 1));
    expect(events[1]).toMatchObject({ kind: 'problem', reason: 'invalid_encoding', line: 2 });
    expect(events[1]?.raw.startsWith('bad,')).toBe(true);
    expect(events[1]?.raw.endsWith(',x')).toBe(true);
    expect(events[1]?.raw).toContain('\uFFFD');
    expect(events[2]).toEqual(rec(['ok', '2'], 3));
  });

  it('when an invalid byte sits inside a quoted multi-line record, then that record is the problem and numbering goes on', () => {
    const input = Buffer.concat([
      Buffer.from('"a\n'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('",b\nc,d\n'),
    ]);
    const events = split(input);
    expect(events).toEqual([
      { kind: 'problem', reason: 'invalid_encoding', line: 1, raw: '"a\n\uFFFD(",b' },
      rec(['c', 'd'], 3),
    ]);
  });

  it('when valid records surround an invalid one in the same chunk, then they still keep their multi-byte text', () => {
    const input = Buffer.concat([
      Buffer.from('é,1\n'),
      Buffer.from([0x80]),
      Buffer.from(',2\n"ñ\nx",3\n'),
    ]);
    expect(split(input)).toEqual([
      rec(['é', '1'], 1),
      { kind: 'problem', reason: 'invalid_encoding', line: 2, raw: '\uFFFD,2' },
      rec(['ñ\nx', '3'], 3, '"ñ\nx",3'),
    ]);
  });

  it('when the last record without a newline is invalid UTF-8, then end() reports it', () => {
    const input = Buffer.concat([Buffer.from('a\n'), Buffer.from([0xfe, 0x41])]);
    expect(split(input)).toEqual([
      rec(['a'], 1),
      { kind: 'problem', reason: 'invalid_encoding', line: 2, raw: '\uFFFDA' },
    ]);
  });

  it('when a line holds only the invalid byte 0xA0, then it is invalid_encoding, not a skipped blank line', () => {
    // 0xA0 alone is not UTF-8 (it is a continuation byte); it must not pass as white space.
    const input = Buffer.concat([Buffer.from('a\n'), Buffer.from([0xa0]), Buffer.from('\nb\n')]);
    expect(split(input)).toEqual([
      rec(['a'], 1),
      { kind: 'problem', reason: 'invalid_encoding', line: 2, raw: '\uFFFD' },
      rec(['b'], 3),
    ]);
  });
});

describe('CsvRecordSplitter: the 64 KiB record cap', () => {
  const longLine = (n: number, ch = 'x'): string => ch.repeat(n);

  it('when a record arrives whole and is over 64 KiB, then it is one record_too_long problem and the next records are fine', () => {
    const input = `a,1\n${longLine(MAX_RECORD_BYTES + 1)}\nb,2\n`;
    const events = split(input);
    expect(events).toHaveLength(3);
    expect(events[0]).toEqual(rec(['a', '1'], 1));
    expect(events[1]).toMatchObject({ kind: 'problem', reason: 'record_too_long', line: 2 });
    expect(Buffer.byteLength(events[1]?.raw ?? '')).toBeLessThanOrEqual(MAX_RAW_BYTES);
    expect(events[1]?.raw).toBe(longLine(MAX_RAW_BYTES));
    expect(events[2]).toEqual(rec(['b', '2'], 3));
  });

  it('when a record is exactly 64 KiB, then it is accepted (LF, one push and chunked)', () => {
    const field = longLine(MAX_RECORD_BYTES - 2);
    const input = `${field},1\nb,2\n`;
    const expected = [`record@1:<${field.length} chars>|1`, 'record@2:b|2'];
    expect(summary(split(input))).toEqual(expected);
    expect(summary(split(input, 4096))).toEqual(expected);
    expect(summary(split(input, MAX_RECORD_BYTES))).toEqual(expected);
    expect(split(input)[0]).toEqual(rec([field, '1'], 1));
  });

  it('when a record is exactly 64 KiB and ends in CRLF, then it is accepted in one push', () => {
    const field = longLine(MAX_RECORD_BYTES - 2);
    expect(summary(split(`${field},1\r\nb,2\r\n`))).toEqual([
      `record@1:<${field.length} chars>|1`,
      'record@2:b|2',
    ]);
  });

  it('when a record of exactly 64 KiB with CRLF is cut right after its CR, then it is still accepted', () => {
    const field = longLine(MAX_RECORD_BYTES - 2);
    const input = `${field},1\r\nb,2\r\n`;
    // First chunk: the 65,536-byte record plus its CR; the LF comes with the next chunk.
    expect(summary(split(input, [MAX_RECORD_BYTES + 1, 100]))).toEqual([
      `record@1:<${field.length} chars>|1`,
      'record@2:b|2',
    ]);
  });

  it('when a record is one byte over 64 KiB, then it is rejected whether pushed whole or in chunks', () => {
    const input = `${longLine(MAX_RECORD_BYTES + 1)}\nb,2\n`;
    for (const sizes of [undefined, 1000, MAX_RECORD_BYTES, [MAX_RECORD_BYTES + 1, 5]]) {
      expect(summary(split(input, sizes))).toEqual(['record_too_long@1', 'record@2:b|2']);
    }
  });

  it('when the cap is counted, then it counts UTF-8 bytes, not characters', () => {
    // 21,846 three-byte characters are 65,538 bytes but only 21,846 UTF-16 code units.
    const input = `${'₦'.repeat(21_846)}\nok\n`;
    const events = split(input);
    expect(events.map((e) => e.kind)).toEqual(['problem', 'record']);
    expect(events[0]).toMatchObject({ reason: 'record_too_long', line: 1 });
    const raw = events[0]?.raw ?? '';
    expect(Buffer.byteLength(raw)).toBeLessThanOrEqual(MAX_RAW_BYTES);
    expect(raw).toBe('₦'.repeat(341)); // 1,023 bytes: a 342nd character would be cut in half
  });

  it('when a quoted record with line breaks is over 64 KiB, then it is one problem on its first line', () => {
    const input = `a\n"${'y\n'.repeat(40_000)}",z\nb\n`;
    const events = split(input);
    expect(events[0]).toEqual(rec(['a'], 1));
    expect(events[1]).toMatchObject({ kind: 'problem', reason: 'record_too_long', line: 2 });
    expect(events.filter((e) => e.kind === 'problem')).toHaveLength(1);
    expect(events.at(-1)).toEqual(rec(['b'], 40_003));
  });

  it('when a quoted record with line breaks over 64 KiB arrives in chunks, then it is still one problem and the next records are intact', () => {
    const input = `a\n"${'y\n'.repeat(40_000)}",z\nb,c\nd,e\n`;
    const expected = ['record@1:a', 'record_too_long@2', 'record@40003:b|c', 'record@40004:d|e'];
    expect(summary(split(input))).toEqual(expected);
    const chunked = summary(split(input, 4096));
    // Compared in a compact form: a wrong split here yields thousands of records.
    expect({ count: chunked.length, first: chunked.slice(0, 3), last: chunked.slice(-2) }).toEqual({
      count: 4,
      first: expected.slice(0, 3),
      last: expected.slice(-2),
    });
  });

  it('when a 5 MB line arrives in 64 KiB chunks, then it is one problem, memory stays bounded and the next records are fine', () => {
    const head = Buffer.from('first,1\n');
    const huge = Buffer.alloc(5 * 1024 * 1024, 'q');
    const tail = Buffer.from('\nsecond,2\r\n\nthird,3\n');
    const input = Buffer.concat([head, huge, tail]);
    const { splitter, events } = collector();
    let pushed = 0;
    let maxRetained = 0;
    let sawSkipping = false;
    for (const chunk of chunksOf(input, 64 * 1024)) {
      splitter.push(chunk);
      pushed += chunk.length;
      maxRetained = Math.max(maxRetained, pushed - splitter.consumedBytes);
      if (!splitter.atRecordBoundary) sawSkipping = true;
    }
    splitter.end();
    expect(maxRetained).toBeLessThanOrEqual(MAX_RECORD_BYTES);
    expect(sawSkipping).toBe(true);
    expect(splitter.atRecordBoundary).toBe(true);
    expect(events).toHaveLength(4);
    expect(events[0]).toEqual(rec(['first', '1'], 1));
    expect(events[1]).toEqual({
      kind: 'problem',
      reason: 'record_too_long',
      line: 2,
      raw: 'q'.repeat(MAX_RAW_BYTES),
    });
    expect(events[2]).toEqual(rec(['second', '2'], 3));
    expect(events[3]).toEqual(rec(['third', '3'], 5));
  });

  it('when a 5 MB line is the last line without a newline, then it is one problem and end() adds nothing', () => {
    const input = Buffer.concat([Buffer.from('a\n'), Buffer.alloc(5 * 1024 * 1024, 'q')]);
    const events = split(input, 64 * 1024);
    expect(events.map((e) => e.kind)).toEqual(['record', 'problem']);
    expect(events[1]).toMatchObject({ reason: 'record_too_long', line: 2 });
  });

  it('when a white-space-only line over 64 KiB arrives, then it is record_too_long, pushed whole or in chunks', () => {
    // The cap is judged before blankness, so the verdict cannot depend on how the input is chunked.
    const input = `a\n${' '.repeat(MAX_RECORD_BYTES * 2)}\nb\n`;
    const expected = ['record@1:a', 'record_too_long@2', 'record@3:b'];
    expect(summary(split(input))).toEqual(expected);
    expect(summary(split(input, 16 * 1024))).toEqual(expected);
  });
});

describe('CsvRecordSplitter: chunking does not change the result', () => {
  const sample = Buffer.concat([
    Buffer.from(
      [
        'event_id,merchant_id,amount,region',
        '\uFEFFid-1,MRC-000001,"1,000.50",Lagos',
        '',
        'id-2,MRC-000002,₦5,"Ọ̀yọ́ ""state"""',
        '\r',
        'id-3,"MRC-\n000003","multi\r\nline",Abuja\r',
        '   ',
        'id-4,😀,,',
      ].join('\n'),
    ),
    Buffer.from('\nid-5,'),
    Buffer.from([0xff, 0xfe]),
    Buffer.from(',x,y\nid-6,"quoted, with comma",7,Kano\n'),
    Buffer.from(`id-7,${'z'.repeat(MAX_RECORD_BYTES + 10)}\n`),
    Buffer.from('id-8,"",  "spaced" ,end\nid-9,last,no,newline'),
  ]);

  it('when the sample is split, then the reference result is as expected', () => {
    const events = split(sample);
    expect(events.map((e) => [e.kind, e.line])).toEqual([
      ['record', 1],
      ['record', 2],
      ['record', 4],
      ['record', 6],
      ['record', 10],
      ['problem', 11],
      ['record', 12],
      ['problem', 13],
      ['record', 14],
      ['record', 15],
    ]);
    expect(events[2]).toMatchObject({ fields: ['id-2', 'MRC-000002', '₦5', 'Ọ̀yọ́ "state"'] });
    expect(events[3]).toMatchObject({ fields: ['id-3', 'MRC-\n000003', 'multi\r\nline', 'Abuja'] });
    expect(events[5]).toMatchObject({ reason: 'invalid_encoding' });
    expect(events[7]).toMatchObject({ reason: 'record_too_long' });
    expect(events[8]).toMatchObject({ fields: ['id-8', '', 'spaced', 'end'] });
    expect(events[9]).toMatchObject({ fields: ['id-9', 'last', 'no', 'newline'] });
  });

  it('when the sample is pushed one byte at a time (up to the long record), then the result equals one push', () => {
    const cut = sample.indexOf('id-7');
    const part = sample.subarray(0, cut);
    expect(split(part, 1)).toEqual(split(part));
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])(
    'when the sample is pushed in random chunk sizes (seed %d), then the result equals one push',
    (seed) => {
      const reference = split(sample);
      const maxChunk = seed % 2 === 0 ? 64 : 20_000;
      expect(split(sample, randomSizes(seed, 10_000, maxChunk))).toEqual(reference);
    },
  );

  it('when a chunk boundary falls at every position of a short sample, then the result equals one push', () => {
    const short = sample.subarray(0, sample.indexOf('id-7'));
    const reference = split(short);
    for (let cut = 1; cut < short.length; cut += 1) {
      expect(split(short, [cut, short.length]), `cut at ${cut}`).toEqual(reference);
    }
  });
});

describe('CsvRecordSplitter: consumedBytes', () => {
  const input = Buffer.from(
    'a,1\r\n\n"b\nb",2\nc,"x,\ny"\n₦,3\n' + 'd,4\n'.repeat(50) + '"open\n\nquote",5\nlast,6',
  );

  it('when a chunk ends mid-record, then consumedBytes stops at the start of that record', () => {
    const { splitter } = collector();
    splitter.push(Buffer.from('a,1\nb,'));
    expect(splitter.consumedBytes).toBe(4);
    splitter.push(Buffer.from('2\n"c\n'));
    expect(splitter.consumedBytes).toBe(8);
    splitter.push(Buffer.from('c",3\n'));
    expect(splitter.consumedBytes).toBe(16);
  });

  it.each([11, 12, 13, 14, 15])(
    'when pushed in random chunks (seed %d), then after each push consumedBytes is a record boundary from which a resumed splitter finishes the job',
    (seed) => {
      const full = split(input);
      const { splitter, events } = collector();
      for (const chunk of chunksOf(input, randomSizes(seed, 1000, 17))) {
        splitter.push(chunk);
        expect(splitter.atRecordBoundary).toBe(true);
        const offset = splitter.consumedBytes;
        expect(offset === 0 || input[offset - 1] === 0x0a).toBe(true);
        // Everything before the offset was emitted; resuming at the offset yields exactly the rest.
        expect(events).toEqual(full.slice(0, events.length));
        const resumed = split(input.subarray(offset), undefined, splitter.line);
        expect([...events, ...resumed]).toEqual(full);
      }
    },
  );
});

describe('cutToBytes', () => {
  it('when the text fits, then it is unchanged', () => {
    expect(cutToBytes('hello', 5)).toBe('hello');
    expect(cutToBytes('₦₦', 6)).toBe('₦₦');
    expect(cutToBytes('x'.repeat(MAX_RAW_BYTES))).toBe('x'.repeat(MAX_RAW_BYTES));
  });

  it('when ASCII text is too long, then it is cut at the byte limit', () => {
    expect(cutToBytes('x'.repeat(MAX_RAW_BYTES + 500))).toBe('x'.repeat(MAX_RAW_BYTES));
    expect(cutToBytes('abcdef', 4)).toBe('abcd');
  });

  it('when the limit falls inside a multi-byte character, then the whole character is dropped', () => {
    expect(cutToBytes('a₦b', 2)).toBe('a');
    expect(cutToBytes('a₦b', 3)).toBe('a');
    expect(cutToBytes('a₦b', 4)).toBe('a₦');
    expect(cutToBytes('😀😀', 7)).toBe('😀');
  });

  it('when long multi-byte text is cut with the default, then the result is at most 1 KiB of whole characters', () => {
    const cut = cutToBytes('é'.repeat(5000));
    expect(Buffer.byteLength(cut)).toBe(MAX_RAW_BYTES);
    expect(cut).toBe('é'.repeat(512));
  });
});

describe('splitQuotedFields', () => {
  it.each([
    ['', ['']],
    ['a', ['a']],
    ['a,b', ['a', 'b']],
    ['a,', ['a', '']],
    [',', ['', '']],
    ['"a,b",c', ['a,b', 'c']],
    ['"a""b"', ['a"b']],
    ['""', ['']],
    ['"a"  ,b', ['a', 'b']],
    ['  "a",b', ['a', 'b']],
    ['"a"x,b', ['ax', 'b']],
    ['a"b,c', ['a"b', 'c']],
    ['"open', ['open']],
    ['"line\nbreak",x', ['line\nbreak', 'x']],
    ['x,"",y', ['x', '', 'y']],
  ])('when the record is %j, then the fields are %j', (record, fields) => {
    expect(splitQuotedFields(record)).toEqual(fields);
  });
});

describe('splitFirstRecord', () => {
  it('when the text starts with a header line, then it is returned with line 1 and the offset after its newline', () => {
    const text = 'event_id,merchant_id\nrow,1\n';
    expect(splitFirstRecord(text, false)).toEqual({
      fields: ['event_id', 'merchant_id'],
      line: 1,
      nextLine: 2,
      end: 21,
    });
  });

  it('when the header ends in CRLF, then the CR is not part of the last name', () => {
    expect(splitFirstRecord('a,b\r\nrow\r\n', false)).toEqual({
      fields: ['a', 'b'],
      line: 1,
      nextLine: 2,
      end: 5,
    });
  });

  it('when blank lines come first, then they are skipped and counted', () => {
    const text = '\n  \r\n\t\nh1,h2\nrow\n';
    expect(splitFirstRecord(text, false)).toEqual({
      fields: ['h1', 'h2'],
      line: 4,
      nextLine: 5,
      end: text.indexOf('row'),
    });
  });

  it('when header names are quoted, with commas, quotes and a line break, then they are unquoted', () => {
    const text = '"event_id","a,b","say ""x""","multi\nline"\nrow\n';
    expect(splitFirstRecord(text, false)).toEqual({
      fields: ['event_id', 'a,b', 'say "x"', 'multi\nline'],
      line: 1,
      nextLine: 3, // the header spans two physical lines
      end: text.indexOf('row'),
    });
  });

  it('when the header is not yet complete and more text may follow, then it returns null', () => {
    expect(splitFirstRecord('a,b', false)).toBeNull();
    expect(splitFirstRecord('"a\nb', false)).toBeNull();
    expect(splitFirstRecord('\n\n', false)).toBeNull();
  });

  it('when the text is the whole file without a trailing newline, then the rest is the header', () => {
    expect(splitFirstRecord('a,b', true)).toEqual({
      fields: ['a', 'b'],
      line: 1,
      nextLine: 2,
      end: 3,
    });
    expect(splitFirstRecord('\n\na,b\r', true)).toEqual({
      fields: ['a', 'b'],
      line: 3,
      nextLine: 4,
      end: 6,
    });
  });

  it('when the whole file is blank or empty, then there is no header', () => {
    expect(splitFirstRecord('', true)).toBeNull();
    expect(splitFirstRecord('\n \r\n', true)).toBeNull();
  });
});

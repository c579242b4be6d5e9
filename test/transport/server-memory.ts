// The memory of a `loupe serve` process, as the soak test and `npm run bench:soak` read it from
// outside: RSS from /proc, and through the inspector (the server started with
// --inspect=127.0.0.1:0) V8's heap, external memory and ArrayBuffers after a forced full GC, and
// how many objects of a kind are alive. Nothing in Loupe itself is needed for it.

import fs from 'node:fs';
import WebSocket from 'ws';

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export interface ServerInspector {
  /** process.memoryUsage() after a full GC, with RSS read from /proc. */
  memory(): Promise<MemorySample>;
  /** How many live objects have this prototype (an expression evaluated in the server). */
  countObjects(prototypeExpression: string): Promise<number>;
  /** Writes a heap snapshot (for Chrome DevTools' Memory tab) to `file`. */
  snapshot(file: string): Promise<void>;
  close(): void;
}

/** The inspector's WebSocket address, from what `node --inspect=127.0.0.1:0` prints on stderr. */
export function inspectorUrl(stderr: string): string | null {
  return /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1] ?? null;
}

/** The resident set of a process, in bytes. */
export function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

export async function inspectServer(url: string, pid: number): Promise<ServerInspector> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  let next = 1;
  const waiting = new Map<number, (reply: { result?: unknown; error?: { message: string } }) => void>();
  const chunks: string[] = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; method?: string; params?: { chunk: string }; result?: unknown; error?: { message: string } };
    if (msg.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(msg.params!.chunk);
    if (msg.id !== undefined) waiting.get(msg.id)?.(msg);
  });
  const send = async <T>(method: string, params: object = {}): Promise<T> => {
    const reply = await new Promise<{ result?: unknown; error?: { message: string } }>((resolve) => {
      const id = next++;
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
    if (reply.error) throw new Error(`${method}: ${reply.error.message}`);
    return reply.result as T;
  };
  type Remote = { result: { value?: unknown; objectId?: string } };
  return {
    async memory() {
      await send('HeapProfiler.collectGarbage');
      const reply = await send<Remote>('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
      const { heapUsed, external, arrayBuffers } = JSON.parse(reply.result.value as string) as NodeJS.MemoryUsage;
      return { rss: rssOf(pid), heapUsed, external, arrayBuffers };
    },
    async countObjects(prototypeExpression) {
      await send('HeapProfiler.collectGarbage');
      const proto = await send<Remote>('Runtime.evaluate', { expression: prototypeExpression });
      const found = await send<{ objects: { objectId: string } }>('Runtime.queryObjects', { prototypeObjectId: proto.result.objectId });
      const length = await send<Remote>('Runtime.callFunctionOn', {
        objectId: found.objects.objectId,
        functionDeclaration: 'function () { return this.length; }',
        returnByValue: true,
      });
      return length.result.value as number;
    },
    async snapshot(file) {
      chunks.length = 0;
      await send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
      fs.writeFileSync(file, chunks.join(''));
    },
    close: () => ws.close(),
  };
}

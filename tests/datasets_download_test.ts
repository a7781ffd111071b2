/**
 * The download path against a local HTTP server on 127.0.0.1 serving small generated files: a
 * good download (progress, MD5, atomic rename), 404, wrong checksum, truncation, a stalled
 * server, mirror fallback, Ctrl-C during a download, and `loadDataset` fetching MNIST and CIFAR-10
 * archives from the server — each time checking that no partial or temporary file remains.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals } from "./assert.ts";
import { DatasetError } from "../data/dataset.ts";
import { DownloadError, downloadFile, md5Bytes } from "../data/download.ts";
import {
  encodeCifarMeta,
  encodeCifarPickle,
  encodeIdxImages,
  encodeIdxLabels,
  encodeTar,
  gzip,
} from "../data/fixtures.ts";
import { loadDataset } from "../data/load.ts";

const PAYLOAD = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 256);

type Server = {
  base: string;
  /** A raw TCP server that declares a file's full length, sends half of it and hangs up. */
  truncBase: string;
  files: Map<string, Uint8Array>;
  close: () => Promise<void>;
};

/**
 * Routes: /good/NAME (whole file, Content-Length), /missing/NAME (404), /slow/NAME (sends 1 KiB,
 * then stalls); and on `truncBase`, /NAME (half the file, then the connection is closed).
 */
function serve(): Server {
  const files = new Map<string, Uint8Array>();
  const stalled = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const [, route, ...rest] = new URL(req.url).pathname.split("/");
    const body = files.get(rest.join("/"));
    if (route === "missing" || !body) return new Response("not found", { status: 404 });
    const headers = { "content-length": String(body.length) };
    if (route === "good") return new Response(body as Uint8Array<ArrayBuffer>, { headers });
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(body.slice(0, 1024));
        stalled.add(c);
      },
    });
    return new Response(stream, { headers });
  });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections = (async () => {
    for await (const conn of listener) {
      (async () => {
        const request = new Uint8Array(4096);
        const n = (await conn.read(request)) ?? 0;
        const path = new TextDecoder().decode(request.subarray(0, n)).split(" ")[1] ?? "/";
        const body = files.get(path.slice(1)) ?? new Uint8Array(0);
        const head = `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`;
        await conn.write(new TextEncoder().encode(head));
        await conn.write(body.subarray(0, body.length >> 1));
        conn.close();
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    base: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`,
    truncBase: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    files,
    close: async () => {
      for (const c of stalled) {
        try {
          c.error(new Error("server closing"));
        } catch {
          // already closed
        }
      }
      listener.close();
      await connections;
      await server.shutdown();
    },
  };
}

function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

async function expectDownloadError(
  p: Promise<unknown>,
  ...includes: string[]
): Promise<DownloadError> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof DownloadError, `expected DownloadError, got ${e}`);
    for (const s of includes) assert(e.message.includes(s), `"${e.message}" lacks "${s}"`);
    return e;
  }
  throw new Error("expected a DownloadError");
}

Deno.test("download: good file, 404, wrong checksum, truncation, stall, mirror fallback", async () => {
  const server = serve();
  const dir = await Deno.makeTempDir();
  try {
    server.files.set("payload.bin", PAYLOAD);
    const md5 = md5Bytes(PAYLOAD);
    const dest = join(dir, "sub", "payload.bin");
    const lines: string[] = [];
    await downloadFile([`${server.base}/good/payload.bin`], dest, md5, {
      log: (l) => lines.push(l),
      progressIntervalMs: 0,
    });
    assertEquals(md5Bytes(await Deno.readFile(dest)), md5);
    assertEquals(listDir(join(dir, "sub")), ["payload.bin"]);
    assert(lines[0].includes(`${server.base}/good/payload.bin`), lines[0]);
    const last = lines[lines.length - 1];
    assert(/195\.3 KiB \/ 195\.3 KiB \(100%\), .*\/s$/.test(last), last);

    const url404 = `${server.base}/missing/payload.bin`;
    const dest2 = join(dir, "two", "payload.bin");
    let e = await expectDownloadError(
      downloadFile([url404], dest2, md5),
      url404,
      dest2,
      "HTTP 404",
    );
    assertEquals(e.path, dest2);
    assert(e instanceof DatasetError);

    const good = `${server.base}/good/payload.bin`;
    e = await expectDownloadError(
      downloadFile([good], dest2, "0123456789abcdef0123456789abcdef"),
      good,
      dest2,
      `checksum mismatch: MD5 ${md5}, expected 0123456789abcdef0123456789abcdef`,
    );

    const trunc = `${server.truncBase}/payload.bin`;
    e = await expectDownloadError(downloadFile([trunc], dest2, md5), trunc, dest2);
    assert(
      /(truncated: received|connection failed after) 100000 of 200000 bytes/.test(
        e.attempts[0].reason,
      ),
      e.message,
    );

    const slow = `${server.base}/slow/payload.bin`;
    e = await expectDownloadError(
      downloadFile([slow], dest2, md5, { idleTimeoutMs: 200 }),
      slow,
      "no data for 200 ms after 1024 bytes",
    );
    assertEquals(listDir(join(dir, "two")), []); // no partial or temporary file

    // mirrors are tried in order until one works
    await downloadFile([url404, trunc, good], dest2, md5);
    assertEquals(listDir(join(dir, "two")), ["payload.bin"]);
    assertEquals(md5Bytes(await Deno.readFile(dest2)), md5);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("download: Ctrl-C during a download leaves no temporary file", async () => {
  const server = serve();
  const dir = await Deno.makeTempDir();
  try {
    server.files.set("payload.bin", PAYLOAD);
    const moduleUrl = new URL("../data/download.ts", import.meta.url).href;
    const script = join(dir, "child.ts");
    const dest = join(dir, "out", "payload.bin");
    await Deno.writeTextFile(
      script,
      `import { downloadFile } from ${JSON.stringify(moduleUrl)};\n` +
        `await downloadFile([${JSON.stringify(`${server.base}/slow/payload.bin`)}], ` +
        `${JSON.stringify(dest)}, null, { log: (l) => console.log(l), progressIntervalMs: 0 });\n`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net=127.0.0.1", "--allow-read", "--allow-write", script],
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("1.0 KiB")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    assert(out.includes("1.0 KiB"), `child output: ${out}`);
    assertEquals(listDir(join(dir, "out")).length, 1); // the temporary file, mid-download
    assert(listDir(join(dir, "out"))[0].endsWith(".part"));
    child.kill("SIGINT");
    const status = await child.status;
    await reader.cancel();
    await child.stderr.cancel();
    assertEquals(status.code, 130);
    assertEquals(listDir(join(dir, "out")), []);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("download: loadDataset fetches MNIST (.gz) and CIFAR-10 (.tar.gz) from a mirror", async () => {
  const server = serve();
  const dir = await Deno.makeTempDir();
  try {
    const images = Uint8Array.from({ length: 3 * 28 * 28 }, (_, i) => i % 256);
    const plain: Record<string, Uint8Array> = {
      "train-images-idx3-ubyte": encodeIdxImages(images, 3, 28, 28),
      "train-labels-idx1-ubyte": encodeIdxLabels([3, 1, 4]),
      "t10k-images-idx3-ubyte": encodeIdxImages(images.subarray(0, 784), 1, 28, 28),
      "t10k-labels-idx1-ubyte": encodeIdxLabels([5]),
    };
    const files = [];
    for (const [name, bytes] of Object.entries(plain)) {
      const gz = await gzip(bytes);
      server.files.set(`${name}.gz`, gz);
      files.push({ name: `${name}.gz`, md5: md5Bytes(gz) });
    }
    const lines: string[] = [];
    const mnist = await loadDataset("mnist", {
      dataDir: dir,
      log: (l) => lines.push(l),
      offlineFallback: false,
      sources: { mnist: { mirrors: [`${server.base}/missing/`, `${server.base}/good/`], files } },
    });
    assertEquals(Array.from(mnist.train.labels), [3, 1, 4]);
    assertEquals(Array.from(mnist.train.images!), Array.from(images));
    assertEquals(mnist.test.length, 1);
    assert(lines.some((l) => l.includes("HTTP 404")), lines.join("\n"));
    // torchvision's layout: the archives and their extracted copies, nothing else
    assertEquals(
      listDir(join(dir, "MNIST", "raw")),
      Object.keys(plain).flatMap((n) => [n, `${n}.gz`]).sort(),
    );

    // a wrong checksum everywhere: a DatasetError naming the files and URLs to fetch by hand
    const fashionDir = join(dir, "f");
    try {
      await loadDataset("fashion-mnist", {
        dataDir: fashionDir,
        sources: {
          "fashion-mnist": {
            mirrors: [`${server.base}/good/`],
            files: files.map((f) => ({ ...f, md5: "0".repeat(32) })),
          },
        },
      });
      throw new Error("expected a DatasetError");
    } catch (e) {
      assert(e instanceof DatasetError, String(e));
      assert(e.message.includes("checksum mismatch"), e.message);
      assert(e.message.includes(`${server.base}/good/train-images-idx3-ubyte.gz`), e.message);
    }
    assertEquals(listDir(join(fashionDir, "FashionMNIST", "raw")), []);

    // CIFAR-10: a tarball in the python layout, extracted next to it
    const batch = (labels: number[]) =>
      encodeCifarPickle(new Uint8Array(labels.length * 3072).fill(labels[0]), labels);
    const tarball = await gzip(encodeTar({
      ...Object.fromEntries(
        [1, 2, 3, 4, 5].map((b) => [`cifar-10-batches-py/data_batch_${b}`, batch([b, 0])]),
      ),
      "cifar-10-batches-py/test_batch": batch([9]),
      "cifar-10-batches-py/batches.meta": encodeCifarMeta("abcdefghij".split("")),
    }));
    server.files.set("cifar-10-python.tar.gz", tarball);
    const source = {
      mirrors: [`${server.base}/good/`],
      files: [{ name: "cifar-10-python.tar.gz", md5: md5Bytes(tarball) }],
    };
    const cifarDir = join(dir, "c");
    const cifar = await loadDataset("cifar10", { dataDir: cifarDir, sources: { cifar10: source } });
    assertEquals(Array.from(cifar.train.labels), [1, 0, 2, 0, 3, 0, 4, 0, 5, 0]);
    assertEquals([cifar.test.length, cifar.test.classNames![9]], [1, "j"]);
    assertEquals(listDir(cifarDir), ["cifar-10-batches-py", "cifar-10-python.tar.gz"]);
    // a second load uses the extracted files (the server is not needed)
    const again = await loadDataset("cifar10", { dataDir: cifarDir, download: false });
    assertEquals(again.train.length, 10);

    // a truncated tarball with a matching checksum: the extraction fails, nothing is left
    const cut = tarball.subarray(0, tarball.length - 100);
    server.files.set("cifar-10-python.tar.gz", cut);
    const cutDir = join(dir, "cut");
    try {
      await loadDataset("cifar10", {
        dataDir: cutDir,
        sources: {
          cifar10: { ...source, files: [{ name: source.files[0].name, md5: md5Bytes(cut) }] },
        },
      });
      throw new Error("expected a DatasetError");
    } catch (e) {
      assert(e instanceof DatasetError, String(e));
      assert(e.message.includes("cifar-10-python.tar.gz"), e.message);
    }
    assertEquals(listDir(cutDir), ["cifar-10-python.tar.gz"]);

    // an archive already in the data directory that is not the published one (a hostile copy
    // with a `..` entry): refused by its MD5 before extraction, saying to delete it
    const otherDir = join(dir, "other");
    await Deno.mkdir(otherDir);
    const hostile = await gzip(encodeTar({ "../escape.txt": new TextEncoder().encode("x") }));
    await Deno.writeFile(join(otherDir, "cifar-10-python.tar.gz"), hostile);
    try {
      await loadDataset("cifar10", { dataDir: otherDir, sources: { cifar10: source } });
      throw new Error("expected a DatasetError");
    } catch (e) {
      assert(e instanceof DatasetError, String(e));
      assert(
        e.message.includes(`is not the published cifar-10-python.tar.gz (MD5 ${md5Bytes(hostile)}`),
        e.message,
      );
      assert(e.message.includes("delete it to download a fresh copy"), e.message);
    }
    assertEquals(listDir(otherDir), ["cifar-10-python.tar.gz"]);
    assertEquals(listDir(dir).includes("escape.txt"), false);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Where each downloadable dataset comes from: the mirrors and MD5 checksums torchvision uses
 * (`torchvision/datasets/mnist.py` and `torchvision/datasets/cifar.py` in pytorch/vision), so a
 * `~/data` shared with torchvision holds the same files in the same layout.
 *
 * - MNIST: torchvision's mirrors are `http://yann.lecun.com/exdb/mnist/` (no longer serves the
 *   files) and `https://ossci-datasets.s3.amazonaws.com/mnist/`; the S3 mirror is tried first.
 * - FashionMNIST: `http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/`.
 * - CIFAR-10/100: `https://www.cs.toronto.edu/~kriz/cifar-{10,100}-python.tar.gz`.
 *
 * @module
 */

/**
 * One file to fetch: its name (appended to each mirror) and MD5.
 *
 * @example
 * ```ts
 * const f: SourceFile = { name: "t10k-labels-idx1-ubyte.gz", md5: "ec29112dd5afa0611ce80d1b7f02629c" };
 * ```
 */
export type SourceFile = { name: string; md5: string };

/**
 * A dataset's download source: base URLs tried in order (each ends with `/`) and the files.
 * Tests and users behind a proxy pass their own through `LoadOptions.sources`.
 *
 * @example
 * ```ts
 * const local: DatasetSource = { mirrors: ["http://127.0.0.1:8000/"], files: MNIST_SOURCE.files };
 * ```
 */
export type DatasetSource = { mirrors: string[]; files: SourceFile[] };

/**
 * MNIST, as torchvision downloads it (gzipped IDX files into `MNIST/raw`).
 *
 * @example
 * ```ts
 * MNIST_SOURCE.files.map((f) => MNIST_SOURCE.mirrors[0] + f.name);
 * ```
 */
export const MNIST_SOURCE: DatasetSource = {
  mirrors: ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
  files: [
    { name: "train-images-idx3-ubyte.gz", md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873" },
    { name: "train-labels-idx1-ubyte.gz", md5: "d53e105ee54ea40749a09fcbcd1e9432" },
    { name: "t10k-images-idx3-ubyte.gz", md5: "9fb629c4189551a2d022fa330f9573f3" },
    { name: "t10k-labels-idx1-ubyte.gz", md5: "ec29112dd5afa0611ce80d1b7f02629c" },
  ],
};

/**
 * FashionMNIST, as torchvision downloads it (gzipped IDX files into `FashionMNIST/raw`).
 *
 * @example
 * ```ts
 * console.log(FASHION_MNIST_SOURCE.mirrors[0]);
 * ```
 */
export const FASHION_MNIST_SOURCE: DatasetSource = {
  mirrors: ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
  files: [
    { name: "train-images-idx3-ubyte.gz", md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d" },
    { name: "train-labels-idx1-ubyte.gz", md5: "25c81989df183df01b3e8a0aad5dffbe" },
    { name: "t10k-images-idx3-ubyte.gz", md5: "bef4ecab320f06d8554ea6380940ec79" },
    { name: "t10k-labels-idx1-ubyte.gz", md5: "bb300cfdad3c16e7a12a480ee83cd310" },
  ],
};

/**
 * CIFAR-10, python version (extracts to `cifar-10-batches-py`).
 *
 * @example
 * ```ts
 * console.log(CIFAR10_SOURCE.mirrors[0] + CIFAR10_SOURCE.files[0].name);
 * ```
 */
export const CIFAR10_SOURCE: DatasetSource = {
  mirrors: ["https://www.cs.toronto.edu/~kriz/"],
  files: [{ name: "cifar-10-python.tar.gz", md5: "c58f30108f718f92721af3b95e74349a" }],
};

/**
 * CIFAR-100, python version (extracts to `cifar-100-python`).
 *
 * @example
 * ```ts
 * console.log(CIFAR100_SOURCE.mirrors[0] + CIFAR100_SOURCE.files[0].name);
 * ```
 */
export const CIFAR100_SOURCE: DatasetSource = {
  mirrors: ["https://www.cs.toronto.edu/~kriz/"],
  files: [{ name: "cifar-100-python.tar.gz", md5: "eb9058c3a382ffc7106e4002c42a8d85" }],
};

/**
 * MD5s of the extracted CIFAR python files as torchvision checks them (informational: the
 * loaders validate structure instead, so re-pickled copies also load).
 *
 * @example
 * ```ts
 * CIFAR_FILE_MD5["cifar-10-batches-py/test_batch"]; // "40351d587109b95175f43aff81a1287e"
 * ```
 */
export const CIFAR_FILE_MD5: Record<string, string> = {
  "cifar-10-batches-py/data_batch_1": "c99cafc152244af753f735de768cd75f",
  "cifar-10-batches-py/data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
  "cifar-10-batches-py/data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
  "cifar-10-batches-py/data_batch_4": "634d18415352ddfa80567beed471001a",
  "cifar-10-batches-py/data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
  "cifar-10-batches-py/test_batch": "40351d587109b95175f43aff81a1287e",
  "cifar-10-batches-py/batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
  "cifar-100-python/train": "16019d7e3df5f24257cddd939b257f8d",
  "cifar-100-python/test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
  "cifar-100-python/meta": "7973b15100ade9c7d40fb424638fde48",
};

/**
 * The URLs of a source's files, mirror by mirror.
 *
 * @example
 * ```ts
 * sourceUrls(MNIST_SOURCE, "t10k-labels-idx1-ubyte.gz"); // [S3 URL, LeCun URL]
 * ```
 */
export function sourceUrls(source: DatasetSource, name: string): string[] {
  return source.mirrors.map((m) => (m.endsWith("/") ? m : m + "/") + name);
}

/**
 * STL10, binary version, as torchvision downloads it (extracts to `stl10_binary`).
 *
 * @example
 * ```ts
 * console.log(STL10_SOURCE.mirrors[0] + STL10_SOURCE.files[0].name);
 * ```
 */
export const STL10_SOURCE: DatasetSource = {
  mirrors: ["http://ai.stanford.edu/~acoates/stl10/"],
  files: [{ name: "stl10_binary.tar.gz", md5: "91f7769df0f17e558f3565bffb0c7dfb" }],
};

/**
 * SVHN (cropped digits), as torchvision downloads it (MATLAB files into the data directory).
 *
 * @example
 * ```ts
 * console.log(SVHN_SOURCE.mirrors[0] + SVHN_SOURCE.files[0].name);
 * ```
 */
export const SVHN_SOURCE: DatasetSource = {
  mirrors: ["http://ufldl.stanford.edu/housenumbers/"],
  files: [
    { name: "train_32x32.mat", md5: "e26dedcc434d2e4c54c9b2d4a06d8373" },
    { name: "test_32x32.mat", md5: "eb5a983be6a315427106f1b69d6ef8d2" },
  ],
};

/**
 * EMNIST, as torchvision downloads it: NIST's `gzip.zip` (all splits as gzipped IDX files).
 *
 * @example
 * ```ts
 * console.log(EMNIST_SOURCE.mirrors[0] + EMNIST_SOURCE.files[0].name);
 * ```
 */
export const EMNIST_SOURCE: DatasetSource = {
  mirrors: ["https://biometrics.nist.gov/cs_links/EMNIST/"],
  files: [{ name: "gzip.zip", md5: "58c8d27c78d21e728a6bc7b3cc06412e" }],
};

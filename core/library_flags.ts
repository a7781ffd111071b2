/**
 * The flags that name the native libraries' files (`--blas_library`, `--dnnl_library`), shared by
 * the tasks that start a backend (`nc`, `paper`; training has them in its own table). Each stands
 * ahead of its environment variable (`NC_BLAS_LIBRARY`, `NC_DNNL_LIBRARY`);
 * `nets/backend/select.ts`'s `applyLibraryPaths` loads what they name.
 *
 * @module
 */
import type { Flag } from "./cli.ts";

/**
 * The library flags, as {@link Flag} records for `parseFlags`.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./cli.ts";
 * const v = parseFlags(["--dnnl_library", "/opt/lib/libdnnl.so.2"], LIBRARY_FLAGS);
 * // v = { blas_library: null, dnnl_library: "/opt/lib/libdnnl.so.2" }
 * ```
 */
export const LIBRARY_FLAGS = {
  blas_library: {
    kind: "string",
    default: null,
    help: "path of the OpenBLAS library (else NC_BLAS_LIBRARY, else the usual places)",
  },
  dnnl_library: {
    kind: "string",
    default: null,
    help: "path of oneDNN 2.x for native (else NC_DNNL_LIBRARY, else the usual places)",
  },
} as const satisfies Record<string, Flag>;

// Karabo's binary Hash layout (karabo.md §4), so sase can exchange Hashes with Karabo installations:
// encodeHash/encodeHashToBytes (hash-encode.ts) and decodeHash/decodeHashPrefix (hash-decode.ts). Big array
// payloads leave the encoder as views of the caller's memory and come out of the decoder as views of the
// input bytes where alignment allows.

export {
  concatChunks,
  type EncodeOptions,
  encodeHash,
  encodeHashesToBuffer,
  encodeHashToBytes,
} from "./hash-encode.ts";
export { type DecodeOptions, decodeHash, decodeHashPrefix, HashDecodeError } from "./hash-decode.ts";

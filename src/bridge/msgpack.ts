// The bridge's MessagePack codec (see msgpack-values.ts for what it does differently from others):
// the values both sides share, the decoder and the encoder, under one name.
export { BinKey, MAX_DEPTH, MsgExt, type MsgMap, MsgpackError, type MsgValue } from "./msgpack-values.ts";
export { decodeMsgpack } from "./msgpack-reader.ts";
export { type EncodableValue, MapTemplate, MsgpackWriter, encodeMsgpack } from "./msgpack-writer.ts";

// A whole buffer written at a file position on libuv's thread pool (fs.write until all of it is out):
// the plain baselines' way of writing several files at once.
import { write } from "node:fs";

/** Writes all of `bytes` at `position` of the file open as `fd`. */
export async function pwriteAll(fd: number, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; )
    done += await new Promise<number>((resolve, reject) =>
      write(fd, bytes, done, bytes.length - done, position + done, (err, n) =>
        err ? reject(err) : resolve(n),
      ),
    );
}

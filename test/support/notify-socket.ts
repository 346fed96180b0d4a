/**
 * A stand-in for systemd's NOTIFY_SOCKET: an AF_UNIX datagram socket (which Node cannot bind) served
 * by python3. It records every message and closes the file descriptors sent with BARRIER=1, as the
 * manager does, so `systemd-notify` (which waits on that barrier) returns.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

const SERVER = String.raw`
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("__bound__"), flush=True)
while True:
    msg, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(64 * 4))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(json.dumps(msg.decode("utf-8", "replace")), flush=True)
`;

export interface NotifySocket {
  path: string;
  /** Every datagram received so far, in order. */
  readonly messages: string[];
  close(): Promise<void>;
}

export async function startNotifySocket(file: string): Promise<NotifySocket> {
  const child = spawn("python3", ["-c", SERVER, file], { stdio: ["ignore", "pipe", "inherit"] });
  const messages: string[] = [];
  const lines = createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`notify listener exited with ${String(code)}`)));
    lines.on("line", (line) => {
      const m = JSON.parse(line) as string;
      if (m === "__bound__") resolve();
      else messages.push(m);
    });
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    path: file, messages,
    close: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

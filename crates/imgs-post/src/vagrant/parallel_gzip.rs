//! gzip on every core, as Packer's box writer (pgzip) compresses: the data cut into blocks, each
//! compressed on a thread of its own as a complete gzip member, the members written in order. A
//! stream of members is one gzip stream to every reader (gzip, GNU tar, libarchive's bsdtar, which
//! Vagrant unpacks boxes with); a disk of gigabytes then takes about a core's share of the time.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::thread::JoinHandle;

use flate2::Compression;
use flate2::write::GzEncoder;

/// Uncompressed bytes per member: large enough that the members' headers and the restarted
/// dictionary cost nothing measurable, small enough to keep every core busy on a small box.
const BLOCK: usize = 4 << 20;

pub(super) struct Writer<W: Write> {
    out: W,
    level: Compression,
    block: Vec<u8>,
    /// Members being compressed, oldest first.
    running: VecDeque<JoinHandle<io::Result<Vec<u8>>>>,
    /// How many members may be compressed at once.
    threads: usize,
    /// Whether a member was written (an empty stream still gets one, as gzip writes one).
    wrote: bool,
}

impl<W: Write> Writer<W> {
    pub(super) fn new(out: W, level: Compression) -> Writer<W> {
        let threads = std::env::var("THR").map_or_else(
            |_| std::thread::available_parallelism().map_or(1, |n| n.get()),
            |t| t.parse().unwrap(),
        );
        Writer {
            out,
            level,
            block: Vec::with_capacity(BLOCK),
            running: VecDeque::new(),
            threads,
            wrote: false,
        }
    }

    /// Starts compressing the filled block, first writing out the oldest member when every
    /// thread is busy.
    fn dispatch(&mut self) -> io::Result<()> {
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK));
        let level = self.level;
        if self.running.len() >= self.threads {
            self.write_oldest()?;
        }
        self.running.push_back(std::thread::spawn(move || {
            let mut member = GzEncoder::new(Vec::with_capacity(data.len() / 2), level);
            member.write_all(&data)?;
            member.finish()
        }));
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        if let Some(oldest) = self.running.pop_front() {
            let member = oldest
                .join()
                .map_err(|_| io::Error::other("a compression thread panicked"))??;
            self.out.write_all(&member)?;
            self.wrote = true;
        }
        Ok(())
    }

    /// Compresses what is left, writes every member in order and returns the output.
    pub(super) fn finish(mut self) -> io::Result<W> {
        if !self.block.is_empty() || (!self.wrote && self.running.is_empty()) {
            self.dispatch()?;
        }
        while !self.running.is_empty() {
            self.write_oldest()?;
        }
        Ok(self.out)
    }
}

impl<W: Write> Write for Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() == BLOCK {
            self.dispatch()?;
        }
        Ok(n)
    }

    /// Members are written as they are done; a partial block stays until it is full or finished.
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn round_trip(data: &[u8]) -> (Vec<u8>, usize) {
        let mut writer = Writer::new(Vec::new(), Compression::new(1));
        writer.write_all(data).unwrap();
        let out = writer.finish().unwrap();
        let members = out.windows(3).filter(|w| *w == [0x1f, 0x8b, 0x08]).count();
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(out.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        (back, members)
    }

    #[test]
    fn members_come_back_in_order_as_one_stream() {
        let data: Vec<u8> = (0..(BLOCK * 3 + 12345)).map(|i| (i % 251) as u8).collect();
        let (back, members) = round_trip(&data);
        assert_eq!(back, data);
        assert!(members >= 4, "{members} members");
        let (back, members) = round_trip(b"");
        assert!(back.is_empty());
        assert_eq!(members, 1, "an empty stream is one empty member");
    }
}

//! BGZF, the blocked gzip of `bgzip` and htslib: the data cut into blocks of at most 65,280 bytes,
//! each a complete gzip member whose header records the member's size (a `BC` extra field), and an
//! empty member at the end as the end-of-file marker. Any gzip reader reads it as one stream.

use std::io::{self, Write};

use flate2::Compression;
use flate2::write::DeflateEncoder;

/// The most uncompressed data a block takes (htslib's limit, leaving room for incompressible data).
const BLOCK_DATA: usize = 0xff00;

/// The end-of-file marker block, as the format's specification gives it.
const EOF_BLOCK: [u8; 28] = [
    0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 0x06, 0, b'B', b'C', 0x02, 0, 0x1b, 0, 0x03, 0, 0,
    0, 0, 0, 0, 0, 0, 0,
];

pub(super) struct Writer<W: Write> {
    out: W,
    level: Compression,
    pending: Vec<u8>,
}

impl<W: Write> Writer<W> {
    pub(super) fn new(out: W, level: Compression) -> Writer<W> {
        Writer {
            out,
            level,
            pending: Vec::with_capacity(BLOCK_DATA),
        }
    }

    fn write_block(&mut self) -> io::Result<()> {
        let data = std::mem::take(&mut self.pending);
        let mut deflate = DeflateEncoder::new(Vec::with_capacity(data.len() / 2), self.level);
        deflate.write_all(&data)?;
        let compressed = deflate.finish()?;
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        // Header (18 bytes) + compressed data + CRC32 and size (8 bytes), minus one.
        let block_size = u16::try_from(18 + compressed.len() + 8 - 1)
            .map_err(|_| io::Error::other("a BGZF block does not fit its size field"))?;
        let mut header = [
            0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 0x06, 0, b'B', b'C', 0x02, 0, 0, 0,
        ];
        header[16..18].copy_from_slice(&block_size.to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(&compressed)?;
        self.out.write_all(&crc.sum().to_le_bytes())?;
        self.out.write_all(&(data.len() as u32).to_le_bytes())?;
        self.pending = data;
        self.pending.clear();
        Ok(())
    }

    pub(super) fn finish(mut self) -> io::Result<W> {
        if !self.pending.is_empty() {
            self.write_block()?;
        }
        self.out.write_all(&EOF_BLOCK)?;
        Ok(self.out)
    }
}

impl<W: Write> Write for Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = BLOCK_DATA - self.pending.len();
        let taken = room.min(buf.len());
        self.pending.extend_from_slice(&buf[..taken]);
        if self.pending.len() == BLOCK_DATA {
            self.write_block()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

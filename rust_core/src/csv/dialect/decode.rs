//! Transcoding to UTF-8 while streaming (encoding_rs). Malformed input is an error
//! naming the byte offset, never replacement characters: a wrong encoding must not
//! turn silently into mojibake.
use std::io::{self, Read};

use encoding_rs::{DecoderResult, Encoding};

const IN_BYTES: usize = 256 * 1024;

/// A reader of UTF-8 text decoded from `inner` in `encoding` (a byte order mark of that
/// encoding is dropped).
pub struct DecodeReader<R> {
    inner: R,
    encoding: &'static Encoding,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    in_pos: usize,
    in_len: usize,
    eof: bool,
    done: bool,
    /// Input bytes consumed before `input[0]`.
    offset: u64,
}

impl<R: Read> DecodeReader<R> {
    pub fn new(inner: R, encoding: &'static Encoding) -> Self {
        DecodeReader {
            inner,
            encoding,
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; IN_BYTES],
            in_pos: 0,
            in_len: 0,
            eof: false,
            done: false,
            offset: 0,
        }
    }
}

impl<R: Read> Read for DecodeReader<R> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        // The decoder needs room for at least one character.
        if dst.len() < 4 {
            let mut tmp = [0u8; 4];
            let n = self.read(&mut tmp)?;
            let k = n.min(dst.len());
            dst[..k].copy_from_slice(&tmp[..k]);
            if k < n {
                return Err(io::Error::other("read buffer too small for one character"));
            }
            return Ok(k);
        }
        loop {
            if self.done {
                return Ok(0);
            }
            if self.in_pos == self.in_len && !self.eof {
                self.offset += self.in_len as u64;
                self.in_pos = 0;
                self.in_len = 0;
                while self.in_len < self.input.len() {
                    let n = self.inner.read(&mut self.input[self.in_len..])?;
                    if n == 0 {
                        self.eof = true;
                        break;
                    }
                    self.in_len += n;
                }
            }
            let src = &self.input[self.in_pos..self.in_len];
            let (result, read, written) = self
                .decoder
                .decode_to_utf8_without_replacement(src, dst, self.eof);
            self.in_pos += read;
            match result {
                DecoderResult::Malformed(bad, extra) => {
                    let byte = (self.offset + self.in_pos as u64)
                        .saturating_sub(u64::from(bad) + u64::from(extra));
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "bytes at offset {byte} are not valid {} (wrong encoding?)",
                            self.encoding.name()
                        ),
                    ));
                }
                DecoderResult::InputEmpty => {
                    if self.eof {
                        // Everything is decoded and flushed: the decoder is finished.
                        self.done = true;
                        return Ok(written);
                    }
                    if written > 0 {
                        return Ok(written);
                    }
                }
                DecoderResult::OutputFull => {
                    if written > 0 {
                        return Ok(written);
                    }
                    return Err(io::Error::other("decoder made no progress"));
                }
            }
        }
    }
}

/// Decode a whole (sample) buffer, or the offset of the first malformed byte.
pub fn decode_sample(
    bytes: &[u8],
    encoding: &'static Encoding,
    last: bool,
) -> Result<String, usize> {
    let mut decoder = encoding.new_decoder_with_bom_removal();
    let cap = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .unwrap_or(bytes.len() * 3 + 16);
    let mut out = String::with_capacity(cap);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut out, last);
    match result {
        DecoderResult::Malformed(bad, extra) => {
            Err(read.saturating_sub(usize::from(bad) + usize::from(extra)))
        }
        _ => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], enc: &'static Encoding, step: usize) -> io::Result<String> {
        let mut r = DecodeReader::new(bytes, enc);
        let mut out = Vec::new();
        let mut buf = vec![0u8; step];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        Ok(String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn transcodes_single_byte_and_utf16() {
        let latin = b"caf\xe9;\x80 5\n";
        for step in [4, 5, 64] {
            assert_eq!(
                decode_all(latin, encoding_rs::WINDOWS_1252, step).expect("decode"),
                "café;€ 5\n"
            );
        }
        let mut utf16 = vec![0xff, 0xfe];
        for u in "a\tß\n".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(
            decode_all(&utf16, encoding_rs::UTF_16LE, 7).expect("decode"),
            "a\tß\n"
        );
    }

    #[test]
    fn malformed_input_names_the_offset() {
        let err = decode_all(b"ok\xff\xfe\x00\xd8x", encoding_rs::UTF_16BE, 64)
            .expect_err("lone surrogate");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("not valid UTF-16BE"), "{err}");
        let err = decode_all(b"abc\xff", encoding_rs::UTF_8, 64).expect_err("bad utf-8");
        assert!(err.to_string().contains("offset 3"), "{err}");
    }

    #[test]
    fn samples() {
        assert_eq!(
            decode_sample(b"\xe4", encoding_rs::WINDOWS_1252, true),
            Ok("ä".into())
        );
        assert_eq!(
            decode_sample(b"a\xc3", encoding_rs::UTF_8, false),
            Ok("a".into())
        );
        assert_eq!(decode_sample(b"ab\xff", encoding_rs::UTF_8, true), Err(2));
    }
}

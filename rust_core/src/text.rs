//! Text statistics: bytes, lines, words, chars, unique words, top-k words.
//!
//! # Semantics
//!
//! * `bytes`: number of bytes in the file.
//! * `lines`: number of `b'\n'` bytes, plus 1 if the file is non-empty and does not end
//!   with `'\n'` (so `"a\nb"` has 2 lines, `"a\n"` 1, `""` 0). `'\r'` is an ordinary byte.
//! * `chars`: number of valid UTF-8 code points. Bytes that are not part of a valid
//!   UTF-8 sequence are not counted.
//! * `invalid_utf8_bytes`: number of bytes that are not part of a valid UTF-8 sequence,
//!   as found by the `std::str::from_utf8` `valid_up_to()` / `error_len()` walk (a
//!   truncated sequence counts as `error_len()` bytes, then decoding resumes). Invalid
//!   bytes are never fatal; they act as word separators.
//! * words: the text is lowercased character by character (`char::to_lowercase`, full
//!   Unicode mapping, so `'İ'` becomes `"i\u{307}"`), then split into maximal runs of
//!   word characters. A word character is `c.is_alphanumeric() || c == '_'`, our stand-in
//!   for what Python's `\w` matches on `str`. `words` is the number of word occurrences,
//!   `unique_words` the number of distinct (lowercased) words, `top_words` the `top_k`
//!   most frequent words by count descending, ties broken by word ascending (byte order
//!   of the UTF-8 string, which equals code point order). `top_k = 0` gives an empty list.
//!
//! For valid UTF-8 the word statistics equal Python's
//! `Counter(re.findall(r"\w+", text.lower()))`, except in two rare corners:
//! Rust's `is_alphanumeric` (Unicode `Alphabetic` or `Numeric` property) and Python's
//! `str.isalnum` (general categories L*, N*) disagree on some characters (e.g. some
//! combining vowel signs are `Alphabetic` but category `Mc`/`Mn`), and Python lowercases
//! a word-final `'Σ'` to `'ς'` while we always give `'σ'`.
//!
//! # Implementation
//!
//! The file is read in blocks of `CHUNK_SIZE` (256 KiB), each cut just after its last ASCII
//! non-word byte (space, newline, punctuation, ...) so that no word and no UTF-8 sequence
//! (valid or not) spans two blocks; the rest is carried into the next block. Memory is
//! bounded by about one block per worker plus the counts, except that a single word
//! longer than a block must be held whole (it also ends up as a map key). Workers (one
//! per available core) take blocks from a shared reader and count into their own maps,
//! merged at the end. Blocks are small on purpose: the per-word hash lookups are
//! cache-bound, and a block that stays in L2 leaves room for the hot part of the maps
//! (256 KiB measured faster than 1–4 MiB blocks).
//!
//! Words are counted without allocating per occurrence: words of up to 16 bytes are
//! packed (lowercased, zero-padded) into an integer key, built straight from the input
//! for ASCII words (SWAR lowercasing); words of up to 8 bytes go to a `u64`-keyed
//! `hashbrown` map (foldhash), 9–16 bytes to a `u128`-keyed indexed table, longer words
//! to a map keyed by their bytes (allocating only on first insert). Only non-ASCII bytes
//! take the char-decoding path.
use crate::error::{KernelError, Result};
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{ErrorKind, Read};
use std::path::Path;
use std::sync::Mutex;

/// Bytes read per block (before cutting at a separator).
const CHUNK_SIZE: usize = 256 << 10;

/// Statistics of one text file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextStats {
    pub bytes: u64,
    pub lines: u64,
    pub words: u64,
    pub chars: u64,
    pub unique_words: u64,
    /// Most frequent lowercased words, by count descending, ties broken by word ascending.
    pub top_words: Vec<(String, u64)>,
    pub invalid_utf8_bytes: u64,
}

/// Analyze a text file. Invalid UTF-8 is counted, not fatal.
pub fn analyze_file(path: &Path, top_k: usize) -> Result<TextStats> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    analyze_file_with(path, top_k, CHUNK_SIZE, threads)
}

/// Byte class table for ASCII: 0 = separator, 0xFF = non-ASCII (decode the char),
/// anything else = the byte is a word character and this is its lowercase form.
const NON_ASCII: u8 = 0xFF;
static CLASS: [u8; 256] = build_class();

const fn build_class() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        t[b] = if c >= 0x80 {
            NON_ASCII
        } else if c.is_ascii_uppercase() {
            c + 32
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' {
            c
        } else {
            0
        };
        b += 1;
    }
    t
}

#[inline]
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Words of up to this many bytes are counted under an inline key (no pointer to chase).
const SHORT: usize = 16;
type Hasher = foldhash::fast::FixedState;
/// Words longer than [`SHORT`] bytes.
type LongMap = hashbrown::HashMap<Box<[u8]>, u64, Hasher>;

/// One distinct word and its count.
#[derive(Clone, Copy)]
struct Entry<K> {
    key: K,
    count: u64,
}

/// A counter keyed by a packed word: a hash index of `u32` positions into a dense entry
/// array. Frequent words tend to appear early, so their entries sit together and stay in
/// cache, and the index itself is small (4 bytes a slot).
struct Table<K> {
    hasher: Hasher,
    index: hashbrown::HashTable<u32>,
    entries: Vec<Entry<K>>,
    /// Only used past 2^32 distinct keys.
    spill: hashbrown::HashMap<K, u64, Hasher>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table {
            hasher: Hasher::default(),
            index: hashbrown::HashTable::new(),
            entries: Vec::new(),
            spill: hashbrown::HashMap::default(),
        }
    }
}

impl<K: Copy + Eq + std::hash::Hash> Table<K> {
    #[inline]
    fn add(&mut self, key: K, n: u64) {
        let Table {
            hasher,
            index,
            entries,
            spill,
        } = self;
        let hash = hasher.hash_one(key);
        if let Some(&mut i) = index.find_mut(hash, |&i| {
            entries.get(i as usize).is_some_and(|e| e.key == key)
        }) {
            if let Some(e) = entries.get_mut(i as usize) {
                e.count += n;
            }
        } else if let Ok(i) = u32::try_from(entries.len()) {
            entries.push(Entry { key, count: n });
            index.insert_unique(hash, i, |&j| {
                entries
                    .get(j as usize)
                    .map_or(0, |e| hasher.hash_one(e.key))
            });
        } else {
            *spill.entry(key).or_insert(0) += n;
        }
    }

    fn len(&self) -> usize {
        self.entries.len() + self.spill.len()
    }

    fn iter(&self) -> impl Iterator<Item = (K, u64)> + '_ {
        self.entries
            .iter()
            .map(|e| (e.key, e.count))
            .chain(self.spill.iter().map(|(&k, &n)| (k, n)))
    }
}

/// Counter for words of at most [`SHORT`] bytes, keyed by the word's bytes zero-padded
/// into a little-endian `u128` (word bytes are never 0, so the padding is unambiguous).
/// Words of up to 8 bytes, the most frequent ones, get a plain map with 16-byte buckets
/// (one dependent load a lookup); longer ones an indexed [`Table`] (a plain map would
/// have 32-byte buckets).
#[derive(Default)]
struct ShortCounter {
    small: hashbrown::HashMap<u64, u64, Hasher>,
    medium: Table<u128>,
}

impl ShortCounter {
    #[inline]
    fn add(&mut self, key: u128, n: u64) {
        if let Ok(small) = u64::try_from(key) {
            *self.small.entry(small).or_insert(0) += n;
        } else {
            self.medium.add(key, n);
        }
    }

    fn len(&self) -> usize {
        self.small.len() + self.medium.len()
    }

    fn iter(&self) -> impl Iterator<Item = (u128, u64)> + '_ {
        self.small
            .iter()
            .map(|(&k, &n)| (u128::from(k), n))
            .chain(self.medium.iter())
    }
}

/// Lowercase the ASCII letters of a packed key whose bytes are all ASCII (SWAR).
#[inline]
fn ascii_lower(x: u128) -> u128 {
    const ONES: u128 = u128::MAX / 0xFF;
    let ge_a = x + ONES * (0x80 - b'A' as u128);
    let gt_z = x + ONES * (0x80 - b'Z' as u128 - 1);
    let upper = ge_a & !gt_z & (ONES * 0x80);
    x | (upper >> 2)
}

/// Pack `bytes[start..start + len]` (ASCII word bytes, `len <= SHORT`) into a key, lowercased.
#[inline]
fn pack_ascii(bytes: &[u8], start: usize, len: usize) -> u128 {
    let raw = match bytes
        .get(start..start + SHORT)
        .and_then(|s| <[u8; SHORT]>::try_from(s).ok())
    {
        Some(full) => {
            let x = u128::from_le_bytes(full);
            if len < SHORT {
                x & ((1u128 << (8 * len)) - 1)
            } else {
                x
            }
        }
        None => {
            let mut key = [0u8; SHORT];
            let word = bytes.get(start..start + len).unwrap_or(&[]);
            key[..word.len()].copy_from_slice(word);
            u128::from_le_bytes(key)
        }
    };
    ascii_lower(raw)
}

/// Counts of one worker (or of the whole file once merged).
#[derive(Default)]
struct Partial {
    bytes: u64,
    newlines: u64,
    chars: u64,
    words: u64,
    invalid: u64,
    short: ShortCounter,
    long: LongMap,
}

impl Partial {
    /// Count one lowercased word.
    #[inline]
    fn add_word(&mut self, word: &[u8]) {
        self.words += 1;
        if word.len() <= SHORT {
            let mut key = [0u8; SHORT];
            key[..word.len()].copy_from_slice(word);
            self.short.add(u128::from_le_bytes(key), 1);
        } else if let Some(n) = self.long.get_mut(word) {
            *n += 1;
        } else {
            self.long.insert(Box::from(word), 1);
        }
    }

    fn merge(&mut self, mut other: Partial) {
        if other.short.len() > self.short.len() {
            std::mem::swap(&mut self.short, &mut other.short);
        }
        for (key, n) in other.short.iter() {
            self.short.add(key, n);
        }
        if other.long.len() > self.long.len() {
            std::mem::swap(&mut self.long, &mut other.long);
        }
        for (word, n) in other.long {
            *self.long.entry(word).or_insert(0) += n;
        }
        self.bytes += other.bytes;
        self.newlines += other.newlines;
        self.chars += other.chars;
        self.words += other.words;
        self.invalid += other.invalid;
    }

    /// Count everything in one block. The block must start and end on a boundary that no
    /// word and no UTF-8 sequence crosses.
    fn add_block(&mut self, block: &[u8], scratch: &mut Vec<u8>) {
        self.bytes += block.len() as u64;
        let (newlines, starts) = count_newlines_and_char_starts(block);
        self.newlines += newlines;
        // chars = non-continuation bytes of the valid parts; subtract those of invalid runs.
        let mut chars = starts;
        let mut rest = block;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    self.scan_words(s, scratch);
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    let (good, bad) = rest.split_at(valid);
                    if let Ok(s) = std::str::from_utf8(good) {
                        self.scan_words(s, scratch);
                    }
                    let bad_len = e.error_len().unwrap_or(bad.len()).min(bad.len());
                    let (bad, tail) = bad.split_at(bad_len);
                    self.invalid += bad_len as u64;
                    chars -= bad.iter().filter(|&&b| !is_continuation(b)).count() as u64;
                    rest = tail;
                    if rest.is_empty() {
                        break;
                    }
                }
            }
        }
        self.chars += chars;
    }

    /// Count the words of valid UTF-8 text.
    fn scan_words(&mut self, text: &str, scratch: &mut Vec<u8>) {
        let bytes = text.as_bytes();
        let n = bytes.len();
        let mut i = 0;
        while i < n {
            // Skip ASCII separators.
            let class = CLASS[bytes[i] as usize];
            if class == 0 {
                i += 1;
                continue;
            }
            let start = i;
            if class != NON_ASCII {
                // ASCII fast path: find the end of the run of ASCII word bytes.
                while i < n {
                    let c = CLASS[bytes[i] as usize];
                    if c == 0 || c == NON_ASCII {
                        break;
                    }
                    i += 1;
                }
                if i == n || CLASS[bytes[i] as usize] == 0 {
                    let len = i - start;
                    if len <= SHORT {
                        self.words += 1;
                        self.short.add(pack_ascii(bytes, start, len), 1);
                    } else {
                        scratch.clear();
                        scratch.extend(bytes[start..i].iter().map(|&b| CLASS[b as usize]));
                        self.add_word(scratch);
                    }
                    continue;
                }
                // The word continues with a non-ASCII char: finish it on the slow path.
                scratch.clear();
                scratch.extend(bytes[start..i].iter().map(|&b| CLASS[b as usize]));
            } else {
                scratch.clear();
            }
            i = self.scan_unicode(text, i, scratch);
        }
    }

    /// Slow path: continue (or start) the word in `scratch` from byte `i` of `text`,
    /// decoding chars, until the word ends. Returns the index after the word's last char
    /// (or after the non-word char that turned out not to start one).
    #[inline(never)]
    fn scan_unicode(&mut self, text: &str, mut i: usize, scratch: &mut Vec<u8>) -> usize {
        let bytes = text.as_bytes();
        let mut utf8 = [0u8; 4];
        // The text is lowercased first, then split: a char may lowercase to several
        // chars, and each is classified on its own (as Python does).
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                let c = CLASS[b as usize];
                if c == 0 {
                    break;
                }
                scratch.push(c);
                i += 1;
                continue;
            }
            let Some(c) = text.get(i..).and_then(|s| s.chars().next()) else {
                break; // unreachable: i is always a char boundary of valid UTF-8
            };
            i += c.len_utf8();
            for lc in c.to_lowercase() {
                if is_word_char(lc) {
                    scratch.extend_from_slice(lc.encode_utf8(&mut utf8).as_bytes());
                } else if !scratch.is_empty() {
                    self.add_word(scratch);
                    scratch.clear();
                }
            }
        }
        if !scratch.is_empty() {
            self.add_word(scratch);
            scratch.clear();
        }
        i
    }
}

#[inline]
fn is_continuation(b: u8) -> bool {
    (b & 0xC0) == 0x80
}

/// Number of `'\n'` bytes and of non-continuation bytes (written to vectorize well).
fn count_newlines_and_char_starts(block: &[u8]) -> (u64, u64) {
    let mut newlines = 0u64;
    let mut starts = 0u64;
    for part in block.chunks(1 << 16) {
        // Counts within 64 KiB fit in u32 lanes.
        let mut nl = 0u32;
        let mut st = 0u32;
        for &b in part {
            nl += u32::from(b == b'\n');
            st += u32::from((b as i8) >= -0x40);
        }
        newlines += u64::from(nl);
        starts += u64::from(st);
    }
    (newlines, starts)
}

/// Hands out blocks of the file, each cut after an ASCII separator byte.
struct BlockReader<'a> {
    path: &'a Path,
    file: File,
    chunk_size: usize,
    carry: Vec<u8>,
    eof: bool,
    /// The last byte read so far (for the `lines` rule).
    last_byte: Option<u8>,
}

impl BlockReader<'_> {
    /// Fill `buf` with the next block; `Ok(false)` at the end of the file.
    fn next_block(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        buf.clear();
        buf.extend_from_slice(&self.carry);
        self.carry.clear();
        loop {
            if self.eof {
                return Ok(!buf.is_empty());
            }
            let searched = buf.len();
            let want = self.chunk_size.max(1);
            buf.reserve(want);
            let got =
                read_up_to(&mut self.file, buf, want).map_err(|e| KernelError::io(self.path, e))?;
            if got > 0 {
                self.last_byte = buf.last().copied();
            }
            if got < want {
                self.eof = true;
                return Ok(!buf.is_empty());
            }
            // Cut after the last ASCII separator among the new bytes (the carried bytes
            // hold none).
            if let Some(pos) = buf[searched..]
                .iter()
                .rposition(|&b| CLASS[b as usize] == 0)
            {
                let cut = searched + pos + 1;
                self.carry.extend_from_slice(&buf[cut..]);
                buf.truncate(cut);
                return Ok(true);
            }
            // No separator yet: one very long word; read more.
        }
    }
}

/// Append up to `want` bytes to `buf`; fewer only at end of file.
fn read_up_to(file: &mut File, buf: &mut Vec<u8>, want: usize) -> std::io::Result<usize> {
    let start = buf.len();
    let mut limited = file.take(want as u64);
    loop {
        match limited.read_to_end(buf) {
            Ok(_) => return Ok(buf.len() - start),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn open(path: &Path) -> Result<File> {
    let file = File::open(path).map_err(|e| KernelError::io(path, e))?;
    let meta = file.metadata().map_err(|e| KernelError::io(path, e))?;
    if meta.is_dir() {
        return Err(KernelError::io(
            path,
            std::io::Error::from(ErrorKind::IsADirectory),
        ));
    }
    Ok(file)
}

fn worker(reader: &Mutex<BlockReader<'_>>) -> Result<Partial> {
    let mut part = Partial::default();
    let mut buf = Vec::new();
    let mut scratch = Vec::with_capacity(64);
    loop {
        let more = {
            let mut r = reader
                .lock()
                .map_err(|_| KernelError::Internal("text reader lock poisoned".into()))?;
            r.next_block(&mut buf)?
        };
        if !more {
            return Ok(part);
        }
        part.add_block(&buf, &mut scratch);
    }
}

/// [`analyze_file`] with an explicit block size and worker count (tests use tiny blocks).
fn analyze_file_with(
    path: &Path,
    top_k: usize,
    chunk_size: usize,
    threads: usize,
) -> Result<TextStats> {
    let file = open(path)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let reader = Mutex::new(BlockReader {
        path,
        file,
        chunk_size,
        carry: Vec::new(),
        eof: false,
        last_byte: None,
    });
    // Small files (or one core): no threads.
    let threads = if size <= chunk_size as u64 {
        1
    } else {
        threads.max(1)
    };
    let total = if threads == 1 {
        worker(&reader)?
    } else {
        let parts: Vec<Result<Partial>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(|| worker(&reader))).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(KernelError::Internal("text worker thread panicked".into()))
                    })
                })
                .collect()
        });
        let mut total = Partial::default();
        for part in parts {
            total.merge(part?);
        }
        total
    };
    let last_byte = reader
        .into_inner()
        .map_err(|_| KernelError::Internal("text reader lock poisoned".into()))?
        .last_byte;
    finish(total, last_byte, top_k)
}

/// A counted word, as stored in either map.
enum Key<'a> {
    Short([u8; SHORT]),
    Long(&'a [u8]),
}

impl Key<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Key::Short(k) => {
                let len = k.iter().position(|&b| b == 0).unwrap_or(SHORT);
                &k[..len]
            }
            Key::Long(w) => w,
        }
    }
}

fn finish(total: Partial, last_byte: Option<u8>, top_k: usize) -> Result<TextStats> {
    let unterminated = last_byte.is_some_and(|b| b != b'\n');
    let mut entries: Vec<(Key<'_>, u64)> = total
        .short
        .iter()
        .map(|(k, n)| (Key::Short(k.to_le_bytes()), n))
        .chain(total.long.iter().map(|(w, &n)| (Key::Long(w), n)))
        .collect();
    let order = |a: &(Key<'_>, u64), b: &(Key<'_>, u64)| {
        b.1.cmp(&a.1).then_with(|| a.0.bytes().cmp(b.0.bytes()))
    };
    let k = top_k.min(entries.len());
    if k > 0 && k < entries.len() {
        entries.select_nth_unstable_by(k - 1, order);
    }
    entries.truncate(k);
    entries.sort_unstable_by(order);
    let top_words = entries
        .into_iter()
        .map(|(w, n)| {
            String::from_utf8(w.bytes().to_vec())
                .map(|s| (s, n))
                .map_err(|_| KernelError::Internal("word is not UTF-8".into()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TextStats {
        bytes: total.bytes,
        lines: total.newlines + u64::from(unterminated),
        words: total.words,
        chars: total.chars,
        unique_words: (total.short.len() + total.long.len()) as u64,
        top_words,
        invalid_utf8_bytes: total.invalid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::io::Write;

    fn file_with(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(content).expect("write");
        f.flush().expect("flush");
        f
    }

    /// Straightforward reference: `utf8_chunks` walk, char-wise lowercase, split, count.
    fn naive(content: &[u8], top_k: usize) -> TextStats {
        let mut stats = TextStats {
            bytes: content.len() as u64,
            lines: content.iter().filter(|&&b| b == b'\n').count() as u64
                + u64::from(content.last().is_some_and(|&b| b != b'\n')),
            ..TextStats::default()
        };
        let mut counts: HashMap<String, u64> = HashMap::new();
        for chunk in content.utf8_chunks() {
            stats.chars += chunk.valid().chars().count() as u64;
            stats.invalid_utf8_bytes += chunk.invalid().len() as u64;
            let lower: String = chunk.valid().chars().flat_map(char::to_lowercase).collect();
            for word in lower
                .split(|c: char| !is_word_char(c))
                .filter(|w| !w.is_empty())
            {
                stats.words += 1;
                *counts.entry(word.to_string()).or_insert(0) += 1;
            }
        }
        stats.unique_words = counts.len() as u64;
        let mut all: Vec<(String, u64)> = counts.into_iter().collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(top_k);
        stats.top_words = all;
        stats
    }

    fn analyze_bytes(content: &[u8], top_k: usize, chunk: usize, threads: usize) -> TextStats {
        let f = file_with(content);
        analyze_file_with(f.path(), top_k, chunk, threads).expect("analyze")
    }

    fn words(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter().map(|(w, n)| (w.to_string(), *n)).collect()
    }

    #[test]
    fn empty_file() {
        let stats = analyze_bytes(b"", 5, CHUNK_SIZE, 2);
        assert_eq!(stats, TextStats::default());
    }

    #[test]
    fn basic_counts() {
        let text = "The cat, the DOG_1 and thé Cat.\r\nÉTÉ\tété 42\nlast";
        let stats = analyze_bytes(text.as_bytes(), 3, CHUNK_SIZE, 1);
        assert_eq!(stats.bytes, text.len() as u64);
        assert_eq!(stats.lines, 3);
        assert_eq!(stats.chars, text.chars().count() as u64);
        assert_eq!(stats.words, 11);
        assert_eq!(stats.invalid_utf8_bytes, 0);
        // the, cat, dog_1, and, thé, été, 42, last
        assert_eq!(stats.unique_words, 8);
        assert_eq!(
            stats.top_words,
            words(&[("cat", 2), ("the", 2), ("été", 2)])
        );
        assert_eq!(stats, naive(text.as_bytes(), 3));
    }

    #[test]
    fn line_rule() {
        assert_eq!(analyze_bytes(b"a\n", 0, CHUNK_SIZE, 1).lines, 1);
        assert_eq!(analyze_bytes(b"a\nb", 0, CHUNK_SIZE, 1).lines, 2);
        assert_eq!(analyze_bytes(b"\n\n", 0, CHUNK_SIZE, 1).lines, 2);
        assert_eq!(analyze_bytes(b"x", 0, CHUNK_SIZE, 1).lines, 1);
        assert_eq!(analyze_bytes(b"a b\nc d", 0, 2, 2).lines, 2);
    }

    #[test]
    fn invalid_utf8_separates_words_and_is_counted() {
        // E2 82 is a truncated 3-byte sequence (2 invalid bytes), FF is invalid (1).
        let content = b"abc\xE2\x82def \xFFghi\xF0\x9F\x98\x80 jkl\xC3";
        let stats = analyze_bytes(content, 10, CHUNK_SIZE, 1);
        assert_eq!(stats.invalid_utf8_bytes, 4);
        assert_eq!(stats.words, 4);
        assert_eq!(stats.chars, (content.len() - 4 - 3) as u64);
        assert_eq!(stats, naive(content, 10));
        for chunk in 1..12 {
            assert_eq!(
                analyze_bytes(content, 10, chunk, 2),
                naive(content, 10),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn top_k_ties_and_zero() {
        let text = b"b a c b a c d e e e";
        let stats = analyze_bytes(text, 3, CHUNK_SIZE, 1);
        assert_eq!(stats.top_words, words(&[("e", 3), ("a", 2), ("b", 2)]));
        assert!(analyze_bytes(text, 0, CHUNK_SIZE, 1).top_words.is_empty());
        assert_eq!(analyze_bytes(text, 100, CHUNK_SIZE, 1).top_words.len(), 5);
    }

    #[test]
    fn unicode_lowercasing_is_charwise_then_split() {
        // 'İ' lowercases to "i\u{307}" (combining dot, not a word char); Kelvin sign to 'k'.
        let text = "İstanbul \u{212A}elvin ΣΑΣ straße";
        let stats = analyze_bytes(text.as_bytes(), 10, CHUNK_SIZE, 1);
        assert_eq!(stats, naive(text.as_bytes(), 10));
        assert!(stats.top_words.iter().any(|(w, _)| w == "kelvin"));
        assert!(stats.top_words.iter().any(|(w, _)| w == "σασ"));
    }

    #[test]
    fn long_word_spanning_many_blocks() {
        let mut content = vec![b'A'; 1000];
        content.extend_from_slice(" é".repeat(50).as_bytes());
        content.extend(std::iter::repeat_n(b'z', 333));
        let stats = analyze_bytes(&content, 3, 7, 2);
        assert_eq!(stats, naive(&content, 3));
        assert_eq!(stats.words, 51); // the last "é" joins the z run
    }

    #[test]
    fn multithreaded_large_input_matches_single() {
        let mut content = Vec::new();
        for i in 0..20_000u32 {
            write!(content, "w{} Word{} ÉCOLE_{} ", i % 97, i % 13, i % 7).expect("write");
            if i % 10 == 0 {
                content.push(b'\n');
            }
        }
        let expect = naive(&content, 20);
        assert_eq!(analyze_bytes(&content, 20, 4096, 2), expect);
        assert_eq!(analyze_bytes(&content, 20, 4096, 3), expect);
        assert_eq!(analyze_bytes(&content, 20, CHUNK_SIZE, 1), expect);
    }

    #[test]
    fn missing_file_is_not_found() {
        let err = analyze_file(Path::new("/nonexistent/dir/x.txt"), 5).unwrap_err();
        match err {
            KernelError::Io { source, .. } => assert_eq!(source.kind(), ErrorKind::NotFound),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn directory_is_is_a_directory() {
        let dir = tempfile::tempdir().expect("dir");
        match analyze_file(dir.path(), 5).unwrap_err() {
            KernelError::Io { source, .. } => assert_eq!(source.kind(), ErrorKind::IsADirectory),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn piece() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => "[a-zA-Z0-9_]{1,6}".prop_map(String::into_bytes),
            1 => "[a-zA-Z]{7,20}".prop_map(String::into_bytes),
            3 => prop::sample::select(vec![
                " ", "\n", "\r\n", "\t", ",", ".", "'", "-", "  ", "!?",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
            2 => prop::sample::select(vec![
                "é", "É", "ñ", "Ü", "ß", "İ", "Σ", "日本", "\u{212A}", "ǅ", "²", "٣", "\u{301}",
                "😀", "\u{a0}", "\u{2028}", "Ω",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
            1 => prop::collection::vec(0x80u8..=0xFF, 1..4),
            1 => prop::collection::vec(any::<u8>(), 1..4),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        #[test]
        fn matches_naive_reference(
            pieces in prop::collection::vec(piece(), 0..60),
            chunk in 1usize..24,
            threads in 1usize..4,
            top_k in 0usize..8,
        ) {
            let content: Vec<u8> = pieces.concat();
            let got = analyze_bytes(&content, top_k, chunk, threads);
            prop_assert_eq!(got, naive(&content, top_k));
        }

        #[test]
        fn arbitrary_bytes_match_naive_reference(
            content in prop::collection::vec(any::<u8>(), 0..200),
            chunk in 1usize..16,
        ) {
            prop_assert_eq!(analyze_bytes(&content, 5, chunk, 2), naive(&content, 5));
        }
    }
}

//! Throughput of [`Transform`] per class of input (issue 11), against a plain copy.
//!
//! Each class is 64 MiB, fed in 16 KiB chunks (what the server reads at most at once; the
//! output buffer is cleared after each chunk, as the server does once it is written) and
//! whole; then 4 MiB of each fed one byte at a time (one `push` per byte, the output cleared
//! every 16 KiB). Figures are reported by criterion in MiB/s (`cargo bench -p
//! shout-common`); nothing here is asserted.
//!
//! Choose classes with a filter: `cargo bench -p shout-common -- cyrillic`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shout_common::{Mode, Transform};

/// Bytes per class.
const SIZE: usize = 64 << 20;
/// Bytes per class when fed one byte at a time.
const SIZE_BYTEWISE: usize = 4 << 20;
/// What the server reads at most at once.
const CHUNK: usize = 16 << 10;

/// A small deterministic generator (xorshift64*), so every run sees the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() >> 33) as usize % n
    }
}

const ENGLISH: &[&str] = &[
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "and",
    "of",
    "to",
    "in",
    "is",
    "that",
    "it",
    "was",
    "for",
    "on",
    "are",
    "with",
    "as",
    "his",
    "they",
    "be",
    "at",
    "one",
    "have",
    "this",
    "from",
    "by",
    "hot",
    "word",
    "but",
    "what",
    "some",
    "we",
    "can",
    "out",
    "other",
    "were",
    "all",
    "there",
    "when",
    "up",
    "use",
    "your",
    "how",
    "said",
    "an",
    "each",
    "she",
    "which",
    "do",
    "their",
    "time",
    "if",
    "will",
    "way",
    "about",
    "many",
    "server",
    "protocol",
    "answers",
    "uppercase",
    "stream",
    "bytes",
    "2024",
    "42",
];

const LATIN: &[&str] = &[
    "café",
    "naïve",
    "über",
    "straße",
    "élève",
    "façade",
    "año",
    "niño",
    "ação",
    "coração",
    "żółć",
    "łódź",
    "český",
    "příliš",
    "žluťoučký",
    "kůň",
    "smörgåsbord",
    "fjäll",
    "ærø",
    "tête",
    "être",
    "garçon",
    "déjà",
    "vu",
    "le",
    "la",
    "et",
    "und",
    "der",
    "die",
    "el",
    "que",
    "en",
    "mañana",
    "müde",
    "schön",
    "grüße",
    "größe",
    "weiß",
    "résumé",
    "crème",
    "brûlée",
    "ça",
    "où",
    "à",
    "şehir",
    "ğüzel",
    "nós",
    "você",
    "está",
    "não",
    "você",
    "über",
    "für",
    "zürich",
    "köln",
    "señor",
    "pequeño",
    "canción",
    "éxito",
    "información",
    "étrangère",
    "français",
    "deutsch",
    "español",
    "português",
    "polski",
    "čeština",
    "svenska",
    "dansk",
];

/// Turkish: its dotless ı is a character whose uppercase (I) is shorter, the slow case.
const TURKISH: &[&str] = &[
    "bir",
    "için",
    "çalışma",
    "ışık",
    "kızılırmak",
    "yıldız",
    "dünya",
    "iyi",
    "şehir",
    "ağaç",
    "ılık",
    "kapı",
    "sınıf",
    "halı",
    "masa",
    "kitap",
    "okul",
    "yazı",
    "karşı",
    "büyük",
    "ve",
    "bu",
    "da",
    "ne",
    "çok",
    "daha",
    "gibi",
    "olan",
    "sonra",
    "zaman",
    "insan",
    "yıl",
    "gün",
];

const CYRILLIC: &[&str] = &[
    "привет",
    "мир",
    "это",
    "текст",
    "на",
    "русском",
    "языке",
    "и",
    "все",
    "буквы",
    "меняются",
    "съешь",
    "же",
    "ещё",
    "этих",
    "мягких",
    "французских",
    "булок",
    "да",
    "выпей",
    "чаю",
    "в",
    "чащах",
    "юга",
    "жил",
    "бы",
    "цитрус",
    "но",
    "фальшивый",
    "экземпляр",
    "сервер",
    "отвечает",
    "заглавными",
    "буквами",
    "поток",
    "байтов",
    "москва",
    "россия",
    "сегодня",
    "хорошо",
];

/// Words joined by spaces, with punctuation, a capital now and then, and line breaks.
fn words(rng: &mut Rng, list: &[&str], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 64);
    let mut line = 0;
    while out.len() < size {
        let word = list[rng.below(list.len())];
        if rng.below(12) == 0 {
            // Capitalise with the rules under test: it is only data here.
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase().collect::<String>().bytes());
                out.extend_from_slice(chars.as_str().as_bytes());
            }
        } else {
            out.extend_from_slice(word.as_bytes());
        }
        line += word.len() + 1;
        match rng.below(16) {
            0 => out.extend_from_slice(b", "),
            1 => out.extend_from_slice(b". "),
            _ if line > 70 => {
                out.push(b'\n');
                line = 0;
            }
            _ => out.push(b' '),
        }
    }
    out.truncate(size);
    out
}

/// Runs of CJK ideographs separated by ASCII punctuation, spaces and line breaks.
fn chinese(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 64);
    while out.len() < size {
        for _ in 0..4 + rng.below(16) {
            let c = char::from_u32(0x4e00 + rng.below(0x9fa5 - 0x4e00) as u32).unwrap_or('中');
            out.extend_from_slice(c.to_string().as_bytes());
        }
        let punct: &[u8] =
            [b", ".as_slice(), b". ", b"; ", b": ", b"!\n", b"? ", b"\n"][rng.below(7)];
        out.extend_from_slice(punct);
    }
    out.truncate(size);
    out
}

fn random(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(size);
    out
}

/// Invalid bytes alternating with multi-byte lowercase characters of every length.
fn alternating(rng: &mut Rng, size: usize) -> Vec<u8> {
    const INVALID: &[&[u8]] = &[
        b"\xff",
        b"\x80",
        b"\xc3",
        b"\xe2\x82",
        b"\xf0\x9f",
        b"\xed\xa0",
    ];
    const CHARS: &[&str] = &["é", "я", "ω", "ü", "ж", "ⓐ", "ａ", "𐐨", "ա", "ე", "ḁ", "ⰰ"];
    let mut out = Vec::with_capacity(size + 16);
    while out.len() < size {
        out.extend_from_slice(INVALID[rng.below(INVALID.len())]);
        out.extend_from_slice(CHARS[rng.below(CHARS.len())].as_bytes());
    }
    out.truncate(size);
    out
}

/// Text dense in characters whose uppercase has another length (ß, ligatures, ǰ, ΐ, ı, ſ).
fn special(rng: &mut Rng, size: usize) -> Vec<u8> {
    const CHARS: &[&str] = &["ß", "ﬁ", "ﬂ", "ǰ", "ΐ", "ı", "ſ", "ŉ", "a", " ", "é", "ǆ"];
    let mut out = Vec::with_capacity(size + 16);
    while out.len() < size {
        out.extend_from_slice(CHARS[rng.below(CHARS.len())].as_bytes());
    }
    out.truncate(size);
    out
}

/// The classes of the issue, plus Turkish and the worst cases.
fn classes(size: usize) -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    vec![
        ("ascii", words(&mut rng, ENGLISH, size)),
        ("latin", words(&mut rng, LATIN, size)),
        ("cyrillic", words(&mut rng, CYRILLIC, size)),
        ("chinese", chinese(&mut rng, size)),
        ("random", random(&mut rng, size)),
        ("turkish", words(&mut rng, TURKISH, size)),
        ("alternating", alternating(&mut rng, size)),
        ("special", special(&mut rng, size)),
    ]
}

fn bench(c: &mut Criterion) {
    let mut out: Vec<u8> = Vec::with_capacity(Transform::max_output(CHUNK));
    let mut group = c.benchmark_group("transform");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(SIZE as u64));
    for (name, data) in classes(SIZE) {
        group.bench_with_input(BenchmarkId::new("upper-16k", name), &data, |b, data| {
            b.iter(|| {
                let mut t = Transform::new(Mode::Upper);
                for chunk in data.chunks(CHUNK) {
                    out.clear();
                    t.push(black_box(chunk), &mut out);
                    black_box(&out);
                }
                t.finish(&mut out);
            })
        });
        group.bench_with_input(BenchmarkId::new("upper-whole", name), &data, |b, data| {
            let mut whole = Vec::with_capacity(data.len() * 2);
            b.iter(|| {
                whole.clear();
                let mut t = Transform::new(Mode::Upper);
                t.push(black_box(data), &mut whole);
                t.finish(&mut whole);
                black_box(&whole);
            })
        });
        if name == "random" {
            group.bench_with_input(BenchmarkId::new("echo-16k", name), &data, |b, data| {
                b.iter(|| {
                    let mut t = Transform::new(Mode::Echo);
                    for chunk in data.chunks(CHUNK) {
                        out.clear();
                        t.push(black_box(chunk), &mut out);
                        black_box(&out);
                    }
                })
            });
            group.bench_with_input(BenchmarkId::new("copy-16k", name), &data, |b, data| {
                b.iter(|| {
                    for chunk in data.chunks(CHUNK) {
                        out.clear();
                        out.extend_from_slice(black_box(chunk));
                        black_box(&out);
                    }
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("bytewise");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(SIZE_BYTEWISE as u64));
    for (name, data) in classes(SIZE_BYTEWISE) {
        group.bench_with_input(BenchmarkId::new("upper-1b", name), &data, |b, data| {
            b.iter(|| {
                let mut t = Transform::new(Mode::Upper);
                out.clear();
                for byte in data.chunks(1) {
                    if out.len() >= CHUNK {
                        black_box(&out);
                        out.clear();
                    }
                    t.push(byte, &mut out);
                }
                t.finish(&mut out);
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

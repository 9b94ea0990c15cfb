//! Language codes, their names, and a light language guess for TTS `language=auto`.
//!
//! The guess only has to decide which voice to use, and today every installed voice is
//! English: it must tell English from other languages reliably (so that a French text is
//! refused with a clear message instead of being read as English gibberish) and name the
//! language it saw. Writing systems settle most languages at once; Latin-script languages
//! are told apart by their most frequent short words and their letters with diacritics.

/// The `language` values of the TTS endpoints (shared/API.md section 2), `auto` first.
pub const TTS_LANGUAGES: &[&str] = &[
    "auto", "en", "zh", "hi", "es", "ar", "bn", "pt", "ru", "ja", "pa", "de", "ko", "fr", "tr",
    "it", "th", "pl", "nl", "id", "vi", "ur", "uk",
];

/// Whisper's languages: ISO-639-1 code (or Whisper's own, as `haw`, `yue`) and the
/// lower-case English name that OpenAI's `verbose_json` reports.
const LANGUAGES: &[(&str, &str)] = &[
    ("en", "english"),
    ("zh", "chinese"),
    ("de", "german"),
    ("es", "spanish"),
    ("ru", "russian"),
    ("ko", "korean"),
    ("fr", "french"),
    ("ja", "japanese"),
    ("pt", "portuguese"),
    ("tr", "turkish"),
    ("pl", "polish"),
    ("ca", "catalan"),
    ("nl", "dutch"),
    ("ar", "arabic"),
    ("sv", "swedish"),
    ("it", "italian"),
    ("id", "indonesian"),
    ("hi", "hindi"),
    ("fi", "finnish"),
    ("vi", "vietnamese"),
    ("he", "hebrew"),
    ("uk", "ukrainian"),
    ("el", "greek"),
    ("ms", "malay"),
    ("cs", "czech"),
    ("ro", "romanian"),
    ("da", "danish"),
    ("hu", "hungarian"),
    ("ta", "tamil"),
    ("no", "norwegian"),
    ("th", "thai"),
    ("ur", "urdu"),
    ("hr", "croatian"),
    ("bg", "bulgarian"),
    ("lt", "lithuanian"),
    ("la", "latin"),
    ("mi", "maori"),
    ("ml", "malayalam"),
    ("cy", "welsh"),
    ("sk", "slovak"),
    ("te", "telugu"),
    ("fa", "persian"),
    ("lv", "latvian"),
    ("bn", "bengali"),
    ("sr", "serbian"),
    ("az", "azerbaijani"),
    ("sl", "slovenian"),
    ("kn", "kannada"),
    ("et", "estonian"),
    ("mk", "macedonian"),
    ("br", "breton"),
    ("eu", "basque"),
    ("is", "icelandic"),
    ("hy", "armenian"),
    ("ne", "nepali"),
    ("mn", "mongolian"),
    ("bs", "bosnian"),
    ("kk", "kazakh"),
    ("sq", "albanian"),
    ("sw", "swahili"),
    ("gl", "galician"),
    ("mr", "marathi"),
    ("pa", "punjabi"),
    ("si", "sinhala"),
    ("km", "khmer"),
    ("sn", "shona"),
    ("yo", "yoruba"),
    ("so", "somali"),
    ("af", "afrikaans"),
    ("oc", "occitan"),
    ("ka", "georgian"),
    ("be", "belarusian"),
    ("tg", "tajik"),
    ("sd", "sindhi"),
    ("gu", "gujarati"),
    ("am", "amharic"),
    ("yi", "yiddish"),
    ("lo", "lao"),
    ("uz", "uzbek"),
    ("fo", "faroese"),
    ("ht", "haitian creole"),
    ("ps", "pashto"),
    ("tk", "turkmen"),
    ("nn", "nynorsk"),
    ("mt", "maltese"),
    ("sa", "sanskrit"),
    ("lb", "luxembourgish"),
    ("my", "myanmar"),
    ("bo", "tibetan"),
    ("tl", "tagalog"),
    ("mg", "malagasy"),
    ("as", "assamese"),
    ("tt", "tatar"),
    ("haw", "hawaiian"),
    ("ln", "lingala"),
    ("ha", "hausa"),
    ("ba", "bashkir"),
    ("jw", "javanese"),
    ("su", "sundanese"),
    ("yue", "cantonese"),
];

/// The lower-case English name of a language code (`en` → `english`), as OpenAI's
/// `verbose_json` spells it. A region suffix is ignored (`en-US` → `english`).
pub fn language_name(code: &str) -> Option<&'static str> {
    let primary = primary_subtag(code);
    LANGUAGES
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(&primary))
        .map(|(_, name)| *name)
}

/// `English (en)`: how error messages name a language.
pub fn describe(code: &str) -> String {
    match language_name(code) {
        Some(name) => {
            let mut chars = name.chars();
            let capitalized: String = chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
            format!("{capitalized} ({code})")
        }
        None => format!("'{code}'"),
    }
}

/// The primary subtag of a BCP-47 tag, lower-cased (`en-US` → `en`).
pub fn primary_subtag(tag: &str) -> String {
    tag.split(['-', '_'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// A TTS `language` value, checked against [`TTS_LANGUAGES`]; a region is accepted and
/// dropped (`en-US` → `en`). `None` when it is not one of them.
pub fn parse_tts_language(value: &str) -> Option<&'static str> {
    let primary = primary_subtag(value);
    TTS_LANGUAGES.iter().copied().find(|l| *l == primary)
}

/// The language a text is most likely written in, as an ISO-639-1 code. Texts with no
/// evidence either way (numbers, names, a single word) count as English.
pub fn detect_language(text: &str) -> &'static str {
    match dominant_script(text) {
        Script::Latin | Script::None => detect_latin(text),
        Script::Han => "zh",
        Script::Kana => "ja",
        Script::Hangul => "ko",
        Script::Devanagari => "hi",
        Script::Bengali => "bn",
        Script::Gurmukhi => "pa",
        Script::Thai => "th",
        Script::Greek => "el",
        Script::Hebrew => "he",
        Script::Arabic => {
            // Letters Urdu writes and Arabic does not; then those of Persian.
            if text.chars().any(|c| "ٹڈڑںےہھ".contains(c)) {
                "ur"
            } else if text.chars().any(|c| "پچژگ".contains(c)) {
                "fa"
            } else {
                "ar"
            }
        }
        Script::Cyrillic => {
            if text.chars().any(|c| "іїєґІЇЄҐ".contains(c)) {
                "uk"
            } else {
                "ru"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    None,
    Latin,
    Cyrillic,
    Greek,
    Hebrew,
    Arabic,
    Devanagari,
    Bengali,
    Gurmukhi,
    Thai,
    Hangul,
    Kana,
    Han,
}

fn script_of(c: char) -> Script {
    match u32::from(c) {
        0x41..=0x5A | 0x61..=0x7A | 0xC0..=0x24F | 0x1E00..=0x1EFF => Script::Latin,
        0x370..=0x3FF => Script::Greek,
        0x400..=0x52F => Script::Cyrillic,
        0x590..=0x5FF => Script::Hebrew,
        0x600..=0x6FF | 0x750..=0x77F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => Script::Arabic,
        0x900..=0x97F => Script::Devanagari,
        0x980..=0x9FF => Script::Bengali,
        0xA00..=0xA7F => Script::Gurmukhi,
        0xE00..=0xE7F => Script::Thai,
        0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => Script::Hangul,
        0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9F => Script::Kana,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF => Script::Han,
        _ => Script::None,
    }
}

/// The writing system with the most letters. Japanese mixes kanji with kana, so any kana
/// next to Han characters makes the text Japanese.
fn dominant_script(text: &str) -> Script {
    let mut counts = [0usize; 13];
    let index = |s: Script| s as usize;
    for c in text.chars() {
        let s = script_of(c);
        if s != Script::None {
            counts[index(s)] += 1;
        }
    }
    if counts[index(Script::Han)] > 0 && counts[index(Script::Kana)] > 0 {
        return Script::Kana;
    }
    const ALL: [Script; 13] = [
        Script::None,
        Script::Latin,
        Script::Cyrillic,
        Script::Greek,
        Script::Hebrew,
        Script::Arabic,
        Script::Devanagari,
        Script::Bengali,
        Script::Gurmukhi,
        Script::Thai,
        Script::Hangul,
        Script::Kana,
        Script::Han,
    ];
    ALL.into_iter()
        .max_by_key(|s| (counts[index(*s)], *s == Script::Latin))
        .filter(|s| counts[index(*s)] > 0)
        .unwrap_or(Script::None)
}

/// Frequent short words of each Latin-script language in the TTS list. A word may belong
/// to several languages; it counts for each.
const STOPWORDS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "the", "and", "is", "are", "was", "were", "you", "of", "to", "in", "that", "it",
            "with", "for", "this", "have", "has", "be", "not", "on", "what", "how", "hello", "i",
            "my", "we", "your", "will", "can", "at", "from", "there", "they", "he", "she",
            "please", "thank", "thanks", "an", "or", "but", "do", "does", "would", "could",
        ],
    ),
    (
        "es",
        &[
            "el", "la", "los", "las", "que", "y", "en", "un", "una", "es", "por", "para", "con",
            "no", "se", "del", "al", "como", "está", "hola", "qué", "gracias", "muy", "pero", "su",
            "yo", "tú", "usted", "estoy", "bien", "buenos", "días",
        ],
    ),
    (
        "pt",
        &[
            "o", "os", "as", "que", "e", "é", "do", "da", "em", "um", "uma", "para", "com", "não",
            "por", "mais", "olá", "obrigado", "obrigada", "você", "está", "eu", "muito", "bom",
            "dia", "isso",
        ],
    ),
    (
        "de",
        &[
            "der", "die", "das", "und", "ist", "nicht", "ein", "eine", "ich", "du", "sie", "es",
            "mit", "zu", "auf", "für", "den", "dem", "von", "wie", "hallo", "danke", "sehr",
            "guten", "tag", "bitte", "wir", "ihr", "auch", "sind",
        ],
    ),
    (
        "fr",
        &[
            "le", "la", "les", "et", "est", "un", "une", "des", "du", "que", "qui", "pas", "je",
            "vous", "nous", "pour", "dans", "avec", "ce", "bonjour", "merci", "très", "c'est",
            "tout", "monde", "il", "elle", "sont", "au", "aux", "oui",
        ],
    ),
    (
        "it",
        &[
            "il",
            "lo",
            "la",
            "gli",
            "le",
            "e",
            "è",
            "di",
            "che",
            "un",
            "una",
            "per",
            "non",
            "con",
            "sono",
            "ciao",
            "grazie",
            "molto",
            "della",
            "del",
            "buongiorno",
            "come",
            "sta",
            "io",
            "questo",
        ],
    ),
    (
        "nl",
        &[
            "de",
            "het",
            "een",
            "en",
            "is",
            "van",
            "niet",
            "dat",
            "ik",
            "je",
            "met",
            "voor",
            "op",
            "zijn",
            "hallo",
            "dank",
            "wat",
            "hoe",
            "goedemorgen",
            "wij",
            "ook",
            "maar",
        ],
    ),
    (
        "pl",
        &[
            "i",
            "w",
            "na",
            "nie",
            "to",
            "jest",
            "się",
            "z",
            "że",
            "do",
            "co",
            "jak",
            "dzień",
            "dobry",
            "dziękuję",
            "bardzo",
            "tak",
            "cześć",
            "ale",
            "czy",
        ],
    ),
    (
        "tr",
        &[
            "ve",
            "bir",
            "bu",
            "da",
            "de",
            "için",
            "ne",
            "mi",
            "çok",
            "merhaba",
            "teşekkür",
            "ederim",
            "evet",
            "hayır",
            "ben",
            "sen",
            "var",
            "değil",
            "nasılsın",
            "günaydın",
        ],
    ),
    (
        "id",
        &[
            "dan", "yang", "di", "ini", "itu", "tidak", "dengan", "untuk", "saya", "anda", "apa",
            "ada", "selamat", "terima", "kasih", "pagi", "akan", "kami", "bisa",
        ],
    ),
    (
        "vi",
        &[
            "và", "là", "của", "có", "không", "tôi", "bạn", "một", "những", "được", "xin", "chào",
            "cảm", "ơn", "rất", "này",
        ],
    ),
];

/// Letters that (nearly) only one or a few of these languages write, with their weight.
fn diacritic_votes(c: char) -> &'static [(&'static str, u32)] {
    match c.to_lowercase().next().unwrap_or(c) {
        'ñ' | '¿' | '¡' => &[("es", 3)],
        'ã' | 'õ' => &[("pt", 3)],
        'ß' | 'ä' => &[("de", 3)],
        'ö' | 'ü' => &[("de", 1), ("tr", 1)],
        'ç' => &[("fr", 1), ("pt", 1), ("tr", 1)],
        'œ' | 'è' | 'ê' | 'ë' | 'ï' | 'î' | 'û' | 'ù' => &[("fr", 2)],
        'à' => &[("fr", 1), ("it", 1), ("pt", 1)],
        'ł' | 'ą' | 'ę' | 'ś' | 'ź' | 'ż' | 'ć' | 'ń' => &[("pl", 3)],
        'ğ' | 'ş' | 'ı' => &[("tr", 3)],
        'ơ' | 'ư' | 'đ' => &[("vi", 3)],
        c if ('\u{1EA0}'..='\u{1EF9}').contains(&c) => &[("vi", 3)],
        _ => &[],
    }
}

/// Scores each Latin-script language by its frequent words and letters; anything short of
/// clear evidence against English is English.
fn detect_latin(text: &str) -> &'static str {
    let mut scores: Vec<(&'static str, u32)> = STOPWORDS.iter().map(|(l, _)| (*l, 0)).collect();
    let mut add = |lang: &str, points: u32| {
        if let Some(entry) = scores.iter_mut().find(|(l, _)| *l == lang) {
            entry.1 += points;
        }
    };
    for word in text
        .split(|c: char| !(c.is_alphabetic() || c == '\''))
        .filter(|w| !w.is_empty())
    {
        let word = word.to_lowercase();
        for (lang, words) in STOPWORDS {
            if words.contains(&word.as_str()) {
                add(lang, 1);
            }
        }
    }
    for c in text.chars() {
        for (lang, points) in diacritic_votes(c) {
            add(lang, *points);
        }
    }
    let english = scores
        .iter()
        .find(|(l, _)| *l == "en")
        .map_or(0, |(_, s)| *s);
    // The first language with the best score wins ties: the list is ordered by how many
    // people write it.
    let best = scores.iter().filter(|(l, _)| *l != "en").fold(
        None::<(&'static str, u32)>,
        |best, &(l, s)| match best {
            Some((_, b)) if b >= s => best,
            _ => Some((l, s)),
        },
    );
    match best {
        // A margin of two keeps English texts with a foreign name or phrase English.
        Some((lang, score)) if score >= 2 && score >= english + 2 => lang,
        _ => "en",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_stays_english() {
        for text in [
            "Hello there. How are you today?",
            "Dr. Smith paid $3.50 on March 15th.",
            "Angela de la Cruz is here with the report.",
            "OK",
            "12345",
            "",
            "The café serves crème brûlée on Fridays, and it is good.",
        ] {
            assert_eq!(detect_language(text), "en", "{text}");
        }
    }

    #[test]
    fn other_languages_are_named() {
        let cases = [
            ("Bonjour tout le monde, comment allez-vous ?", "fr"),
            ("Hola, ¿cómo estás? Muy bien, gracias.", "es"),
            ("Guten Tag, wie geht es dir? Danke, sehr gut.", "de"),
            ("Olá, tudo bem? Muito obrigado, você é muito gentil.", "pt"),
            ("Ciao, come stai? Molto bene, grazie.", "it"),
            ("Goedemorgen, hoe gaat het met je? Dank je wel.", "nl"),
            ("Dzień dobry, jak się masz? Dziękuję bardzo.", "pl"),
            ("Merhaba, nasılsın? Çok teşekkür ederim.", "tr"),
            ("Selamat pagi, apa kabar? Terima kasih banyak.", "id"),
            ("Xin chào, bạn có khỏe không? Cảm ơn rất nhiều.", "vi"),
            ("Привет, как дела?", "ru"),
            ("Привіт, як справи? Дякую, все добре, їжак.", "uk"),
            ("你好，今天天气很好。", "zh"),
            ("こんにちは、元気ですか。", "ja"),
            ("안녕하세요, 잘 지내세요?", "ko"),
            ("नमस्ते, आप कैसे हैं?", "hi"),
            ("নমস্কার, আপনি কেমন আছেন?", "bn"),
            ("ਸਤ ਸ੍ਰੀ ਅਕਾਲ, ਤੁਸੀਂ ਕਿਵੇਂ ਹੋ?", "pa"),
            ("สวัสดีครับ สบายดีไหม", "th"),
            ("مرحبا، كيف حالك؟", "ar"),
            ("آپ کیسے ہیں؟ میں ٹھیک ہوں۔", "ur"),
        ];
        for (text, lang) in cases {
            assert_eq!(detect_language(text), lang, "{text}");
        }
    }

    #[test]
    fn names_and_codes() {
        assert_eq!(language_name("en"), Some("english"));
        assert_eq!(language_name("en-US"), Some("english"));
        assert_eq!(language_name("FR"), Some("french"));
        assert_eq!(language_name("xx"), None);
        assert_eq!(describe("de"), "German (de)");
        assert_eq!(describe("xx"), "'xx'");
        assert_eq!(parse_tts_language("en-US"), Some("en"));
        assert_eq!(parse_tts_language("auto"), Some("auto"));
        assert_eq!(parse_tts_language("sv"), None);
        for code in TTS_LANGUAGES.iter().filter(|c| **c != "auto") {
            assert!(language_name(code).is_some(), "{code}");
        }
    }
}

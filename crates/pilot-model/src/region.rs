//! GB/T 2260 city codes and the default list of pilot cities.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A prefecture-level administrative division code from GB/T 2260, e.g. `421200` for Xianning.
///
/// Accepted codes are six digits with a known province prefix (11–82), a non-zero city part
/// and `00` as the county part, or a municipality (`110000`, `120000`, `310000`, `500000`).
///
/// NB: it deserializes from a string or an integer, because a code written in a TOML file or an
/// environment variable without quotes (`city = 421200`) arrives as an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct CityCode(u32);

impl<'de> Deserialize<'de> for CityCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Number(n) => format!("{n:06}"),
        };
        CityCode::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The GB/T 2260 province-level prefixes.
const PROVINCES: [u32; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

impl CityCode {
    /// Parses a six-digit city code.
    pub fn parse(s: &str) -> Result<Self> {
        let err = || Error::invalid("city", format!("{s:?} is not a GB/T 2260 city code"));
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let n: u32 = s.parse().map_err(|_| err())?;
        let (province, city, county) = (n / 10_000, (n / 100) % 100, n % 100);
        let municipality = matches!(province, 11 | 12 | 31 | 50) && city == 0;
        if !PROVINCES.contains(&province) || county != 0 || (city == 0 && !municipality) {
            return Err(err());
        }
        Ok(CityCode(n))
    }

    /// The numeric code.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The pilot city with this code, if it is one of the defaults.
    pub fn pilot(self) -> Option<&'static PilotCity> {
        PILOT_CITIES.iter().find(|c| c.code == self.0)
    }

    /// The English name of a default pilot city, or the code itself.
    pub fn label(self) -> String {
        self.pilot().map_or_else(|| self.to_string(), |c| c.en.to_owned())
    }
}

impl fmt::Display for CityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

impl FromStr for CityCode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        CityCode::parse(s)
    }
}

impl TryFrom<String> for CityCode {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        CityCode::parse(&s)
    }
}

impl From<CityCode> for String {
    fn from(c: CityCode) -> String {
        c.to_string()
    }
}

/// One of the default pilot cities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PilotCity {
    /// GB/T 2260 code.
    pub code: u32,
    /// Chinese name.
    pub zh: &'static str,
    /// English name.
    pub en: &'static str,
}

impl PilotCity {
    /// The city's code as a [`CityCode`].
    pub fn city_code(&self) -> CityCode {
        CityCode(self.code)
    }
}

/// The 22 pilot cities a federation starts with unless told otherwise.
pub const PILOT_CITIES: [PilotCity; 22] = [
    PilotCity { code: 421200, zh: "咸宁市", en: "Xianning" },
    PilotCity { code: 350500, zh: "泉州市", en: "Quanzhou" },
    PilotCity { code: 440100, zh: "广州市", en: "Guangzhou" },
    PilotCity { code: 330200, zh: "宁波市", en: "Ningbo" },
    PilotCity { code: 370200, zh: "青岛市", en: "Qingdao" },
    PilotCity { code: 430100, zh: "长沙市", en: "Changsha" },
    PilotCity { code: 510100, zh: "成都市", en: "Chengdu" },
    PilotCity { code: 320500, zh: "苏州市", en: "Suzhou" },
    PilotCity { code: 330100, zh: "杭州市", en: "Hangzhou" },
    PilotCity { code: 420100, zh: "武汉市", en: "Wuhan" },
    PilotCity { code: 610100, zh: "西安市", en: "Xi'an" },
    PilotCity { code: 340100, zh: "合肥市", en: "Hefei" },
    PilotCity { code: 410100, zh: "郑州市", en: "Zhengzhou" },
    PilotCity { code: 440300, zh: "深圳市", en: "Shenzhen" },
    PilotCity { code: 370100, zh: "济南市", en: "Jinan" },
    PilotCity { code: 210200, zh: "大连市", en: "Dalian" },
    PilotCity { code: 320200, zh: "无锡市", en: "Wuxi" },
    PilotCity { code: 360100, zh: "南昌市", en: "Nanchang" },
    PilotCity { code: 520100, zh: "贵阳市", en: "Guiyang" },
    PilotCity { code: 450100, zh: "南宁市", en: "Nanning" },
    PilotCity { code: 440600, zh: "佛山市", en: "Foshan" },
    PilotCity { code: 350200, zh: "厦门市", en: "Xiamen" },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pilot_cities_are_valid_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for c in PILOT_CITIES {
            let code = CityCode::parse(&format!("{:06}", c.code)).unwrap();
            assert!(seen.insert(code), "{} listed twice", c.en);
        }
        assert_eq!(CityCode::parse("421200").unwrap().label(), "Xianning");
    }

    #[test]
    fn deserializes_from_text_or_number() {
        let from_text: CityCode = serde_json::from_str("\"421200\"").unwrap();
        let from_number: CityCode = serde_json::from_str("421200").unwrap();
        assert_eq!(from_text, from_number);
        assert!(serde_json::from_str::<CityCode>("421201").is_err());
        assert_eq!(serde_json::to_string(&from_text).unwrap(), "\"421200\"");
    }

    #[test]
    fn rejects_counties_unknown_provinces_and_junk() {
        assert!(CityCode::parse("421202").is_err(), "a district is not a city");
        assert!(CityCode::parse("991200").is_err());
        assert!(CityCode::parse("42120").is_err());
        assert!(CityCode::parse("420000").is_err(), "a province is not a city");
        assert!(CityCode::parse("500000").is_ok(), "Chongqing is a municipality");
        assert_eq!(CityCode::parse("4212x0").unwrap_err().field(), "city");
    }
}

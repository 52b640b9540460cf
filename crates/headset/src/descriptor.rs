//! HID report descriptors (USB HID 1.11 §6.2.2), read far enough to place every input and
//! output field: its report, its bit offset and size, and the usage (page and id) it carries.

use std::collections::HashMap;

/// A usage: page and id (`0x0B, 0x20` is the telephony page's Hook Switch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Usage {
    /// The usage page.
    pub page: u16,
    /// The usage id on that page.
    pub id: u16,
}

/// Which way a field goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Device to host (buttons).
    Input,
    /// Host to device (lights).
    Output,
}

/// How a field's bits carry its usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Values {
    /// One usage; the bits are its value. `relative` fields report changes (a press), absolute
    /// ones a state (the hook is off).
    Variable {
        /// The usage.
        usage: Usage,
        /// Relative (a momentary press) rather than absolute (a state).
        relative: bool,
    },
    /// An index into a list of usages: the value names the usage pressed (value − min).
    Array {
        /// The usages, in order.
        usages: Vec<Usage>,
        /// The logical minimum: the value of the first usage.
        min: i32,
    },
}

/// One field of one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The report's id (0 when the device numbers none).
    pub report_id: u8,
    /// Input or output.
    pub direction: Direction,
    /// Offset in bits from the start of the report's data (after the id byte).
    pub offset: u32,
    /// Size in bits.
    pub size: u32,
    /// What the bits mean.
    pub values: Values,
}

/// A descriptor's fields, and each report's length.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// Every data field (constants — padding — are left out).
    pub fields: Vec<Field>,
    /// Whether the reports start with an id byte.
    pub numbered: bool,
    /// The length in bits of each (direction, report id).
    pub lengths: Vec<((Direction, u8), u32)>,
}

/// A descriptor that does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorError {
    /// An item runs past the end.
    #[error("the report descriptor ends inside an item at byte {0}")]
    Truncated(usize),
    /// A field larger than the descriptor could describe sensibly.
    #[error("a field of {0} bits × {1} is not one a headset has")]
    Oversized(u32, u32),
}

#[derive(Debug, Clone, Copy, Default)]
struct Globals {
    page: u16,
    min: i32,
    size: u32,
    count: u32,
    report_id: u8,
}

/// Reads a report descriptor.
///
/// # Errors
/// It ends inside an item, or declares a field no device has.
pub fn parse(bytes: &[u8]) -> Result<Layout, DescriptorError> {
    let mut layout = Layout::default();
    let mut globals = Globals::default();
    let mut stack: Vec<Globals> = Vec::new();
    let mut usages: Vec<Usage> = Vec::new();
    let mut usage_min: Option<u32> = None;
    let mut offsets: HashMap<(Direction, u8), u32> = HashMap::new();
    let mut at = 0;
    while at < bytes.len() {
        let prefix = bytes[at];
        if prefix == 0xFE {
            // A long item: size in the next byte, then tag, then data.
            let size = usize::from(*bytes.get(at + 1).ok_or(DescriptorError::Truncated(at))?);
            at += 3 + size;
            if at > bytes.len() {
                return Err(DescriptorError::Truncated(at));
            }
            continue;
        }
        let size = match prefix & 0x03 {
            3 => 4,
            n => usize::from(n),
        };
        let data = bytes
            .get(at + 1..at + 1 + size)
            .ok_or(DescriptorError::Truncated(at))?;
        let unsigned = data
            .iter()
            .rev()
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        let signed = match size {
            1 => i32::from(data[0] as i8),
            2 => i32::from(i16::from_le_bytes([data[0], data[1]])),
            4 => unsigned as i32,
            _ => 0,
        };
        at += 1 + size;
        let full_usage = |value: u32, page: u16| {
            if size == 4 {
                Usage {
                    page: (value >> 16) as u16,
                    id: value as u16,
                }
            } else {
                Usage {
                    page,
                    id: value as u16,
                }
            }
        };
        match prefix & 0xFC {
            // Main items.
            0x80 | 0x90 => {
                let direction = if prefix & 0xFC == 0x80 {
                    Direction::Input
                } else {
                    Direction::Output
                };
                if globals.size > 32 || globals.count > 1024 {
                    return Err(DescriptorError::Oversized(globals.size, globals.count));
                }
                let constant = unsigned & 0x01 != 0;
                let variable = unsigned & 0x02 != 0;
                let relative = unsigned & 0x04 != 0;
                let key = (direction, globals.report_id);
                let offset = offsets.entry(key).or_insert(0);
                if !constant {
                    if variable {
                        for i in 0..globals.count {
                            let usage = usages.get(i as usize).or(usages.last()).copied();
                            if let Some(usage) = usage {
                                layout.fields.push(Field {
                                    report_id: globals.report_id,
                                    direction,
                                    offset: *offset + i * globals.size,
                                    size: globals.size,
                                    values: Values::Variable { usage, relative },
                                });
                            }
                        }
                    } else if !usages.is_empty() {
                        for i in 0..globals.count {
                            layout.fields.push(Field {
                                report_id: globals.report_id,
                                direction,
                                offset: *offset + i * globals.size,
                                size: globals.size,
                                values: Values::Array {
                                    usages: usages.clone(),
                                    min: globals.min,
                                },
                            });
                        }
                    }
                }
                *offset += globals.size * globals.count;
                usages.clear();
                usage_min = None;
            }
            0xB0 | 0xA0 | 0xC0 => {
                // Feature, Collection, End Collection: locals end here.
                usages.clear();
                usage_min = None;
            }
            // Global items.
            0x04 => globals.page = unsigned as u16,
            0x14 => globals.min = signed,
            0x74 => globals.size = unsigned,
            0x84 => {
                globals.report_id = unsigned as u8;
                layout.numbered = true;
            }
            0x94 => globals.count = unsigned,
            0xA4 => stack.push(globals),
            0xB4 => globals = stack.pop().unwrap_or(globals),
            // Local items.
            0x08 => usages.push(full_usage(unsigned, globals.page)),
            0x18 => usage_min = Some(unsigned),
            0x28 => {
                if let Some(min) = usage_min.take() {
                    let first = full_usage(min, globals.page);
                    let last = full_usage(unsigned, globals.page);
                    if last.id >= first.id && last.id - first.id < 1024 {
                        for id in first.id..=last.id {
                            usages.push(Usage {
                                page: first.page,
                                id,
                            });
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut lengths: Vec<_> = offsets.into_iter().collect();
    lengths.sort_by_key(|((d, id), _)| (*d == Direction::Output, *id));
    layout.lengths = lengths;
    Ok(layout)
}

/// The unsigned value of `size` bits at bit `offset` (little-endian bit order, as HID reports).
#[must_use]
pub fn get_bits(data: &[u8], offset: u32, size: u32) -> Option<u32> {
    let mut value = 0u32;
    for i in 0..size.min(32) {
        let bit = offset + i;
        let byte = data.get((bit / 8) as usize)?;
        if byte >> (bit % 8) & 1 == 1 {
            value |= 1 << i;
        }
    }
    Some(value)
}

/// Writes `size` bits of `value` at bit `offset`.
pub fn set_bits(data: &mut [u8], offset: u32, size: u32, value: u32) {
    for i in 0..size.min(32) {
        let bit = offset + i;
        if let Some(byte) = data.get_mut((bit / 8) as usize) {
            let mask = 1u8 << (bit % 8);
            if value >> i & 1 == 1 {
                *byte |= mask;
            } else {
                *byte &= !mask;
            }
        }
    }
}

import CICU

/// How many columns `text` takes in a terminal, by the Unicode East Asian Width of its code points (through ICU):
/// wide and fullwidth characters (Chinese, Japanese, Korean, fullwidth forms, most emoji) take two, combining marks,
/// format characters and controls none, everything else one. Tables align on this, not on `count`: "床前明月光" is
/// five characters and ten columns.
public func displayWidth(_ text: String) -> Int {
    var width = 0
    for scalar in text.unicodeScalars {
        if (0x20..<0x7F).contains(scalar.value) {
            width += 1  // printable ASCII, the common case, without a call into ICU
        } else {
            width += Int(cicu_column_width(Int32(bitPattern: scalar.value)))
        }
    }
    return width
}

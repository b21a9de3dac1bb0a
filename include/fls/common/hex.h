#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace fls {

// Lower-case hexadecimal, as every signature and key crosses the wire.
std::string to_hex(const std::uint8_t* bytes, std::size_t size);

}  // namespace fls

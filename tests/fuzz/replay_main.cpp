// Runs a fuzz target without libFuzzer, so the test suite keeps every target building and
// passing under g++: a fixed set of seeds, then deterministic pseudo-random inputs.
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main() {
    const std::vector<std::string> seeds = {
        "",
        "ping\n",
        "\x10\x00ping",
        "\x05\x01pi\nng\r\n",
        "127.0.0.1:7000",
        "[::1]:0",
        ":80",
        "10.0.0.0/8",
        "::1/128",
        "fe80::1/64",
        "250ms",
        "1.5s",
        "stamp abc",
        "get_time",
        std::string("\xff\xfe\x00\"\\", 5),
        "\xc3\xa9\xe2\x82\xac",
        "weather,room=lab temp=21.5,hum=40i 1",
        "{\"seq\":1,\"a\":[1,{}]}",
        "a=1 b=\"x y\"",
    };
    for (const auto& s : seeds)
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    std::mt19937 rng(12345);
    const std::string alphabet = "ping\r\n:[]{}=,./0123456789abcdefmsi \"\\\xff\xc3";
    for (int i = 0; i < 20000; ++i) {
        std::string s(rng() % 200, '\0');
        for (auto& c : s)
            c = rng() % 4 ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng());
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    }
    std::printf("replay: %zu inputs, no invariant broken\n", seeds.size() + 20000);
    return 0;
}

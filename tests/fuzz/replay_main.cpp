// Runs a fuzz target without libFuzzer, so the test suite keeps every target building and
// passing under g++: built-in seeds, every file of the corpus directories (or files) named on
// the command line (the checked-in seeds and regression inputs), then deterministic
// pseudo-random inputs.
//   fuzz-replay-TARGET [--random N] [DIR_OR_FILE...]
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

const std::string* current = nullptr;

// A broken invariant aborts: keep the input that did it (a random one exists nowhere else).
void save_input(int sig) {
    const char name[] = "fuzz-replay-crash-input";
    int fd = ::open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0 && current) {
        (void)!::write(fd, current->data(), current->size());
        ::close(fd);
        const char note[] = "replay: the input is in ./fuzz-replay-crash-input\n";
        (void)!::write(2, note, sizeof note - 1);
    }
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

void run(const std::string& input) {
    current = &input;
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
    current = nullptr;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL})
        std::signal(sig, save_input);
    long random_inputs = 20000;
    std::vector<fs::path> files;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--random" && i + 1 < argc) {
            random_inputs = std::strtol(argv[++i], nullptr, 10);
            continue;
        }
        std::error_code ec;
        if (fs::is_directory(arg, ec)) {
            std::vector<fs::path> in_dir;
            for (const auto& entry : fs::directory_iterator(arg))
                if (entry.is_regular_file()) in_dir.push_back(entry.path());
            std::sort(in_dir.begin(), in_dir.end());
            files.insert(files.end(), in_dir.begin(), in_dir.end());
        } else if (fs::is_regular_file(arg, ec)) {
            files.emplace_back(arg);
        } else {
            std::fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
            return 2;
        }
    }

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
        run(s);
    for (const auto& f : files) {
        std::printf("replay: %s\n", f.c_str());
        std::fflush(stdout);  // a crash names the file it was on
        run(read_file(f));
    }
    std::mt19937 rng(12345);
    const std::string alphabet = "ping\r\n:[]{}=,./0123456789abcdefmsi \"\\\xff\xc3";
    for (long i = 0; i < random_inputs; ++i) {
        std::string s(rng() % 200, '\0');
        for (auto& c : s)
            c = rng() % 4 ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng());
        run(s);
    }
    std::printf("replay: %zu seeds, %zu corpus files, %ld random inputs, no invariant broken\n",
                seeds.size(), files.size(), random_inputs);
    return 0;
}

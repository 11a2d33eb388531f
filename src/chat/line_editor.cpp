#include "chat/line_editor.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

namespace kiln {

namespace {

constexpr size_t history_max = 1000;

// History entries may span lines ("""-blocks): stored one per line with \ and newline escaped.
std::string escape_entry(const std::string& s) {
    std::string out;
    for (const char c : s) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string unescape_entry(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
            out += s[i + 1] == 'n' ? '\n' : s[i + 1];
            ++i;
        } else out += s[i];
    }
    return out;
}

bool make_dirs(const std::string& path) {
    for (size_t p = 1; p <= path.size(); ++p) {
        if (p == path.size() || path[p] == '/') {
            const std::string sub = path.substr(0, p);
            if (::mkdir(sub.c_str(), 0700) != 0 && errno != EEXIST) return false;
        }
    }
    return true;
}

struct raw_mode {
    termios saved{};
    bool on = false;
    raw_mode() {
        if (tcgetattr(STDIN_FILENO, &saved) != 0) return;
        termios t = saved;
        t.c_lflag &= static_cast<tcflag_t>(~(ECHO | ICANON | ISIG | IEXTEN));
        t.c_iflag &= static_cast<tcflag_t>(~(IXON | ICRNL | INPCK | ISTRIP | BRKINT));
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        on = tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0;
    }
    ~raw_mode() {
        if (on) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    }
};

int read_byte() {
    unsigned char c;
    for (;;) {
        const ssize_t n = ::read(STDIN_FILENO, &c, 1);
        if (n == 1) return c;
        if (n < 0 && errno == EINTR) continue;
        return -1;
    }
}

void out(const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
        const ssize_t n = ::write(STDOUT_FILENO, s.data() + done, s.size() - done);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            return;
        }
        done += static_cast<size_t>(n);
    }
}

// Code points in s[0..n): the terminal columns the cursor moves over (wide characters count one).
size_t columns(const std::string& s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n && i < s.size(); ++i) c += (static_cast<unsigned char>(s[i]) & 0xc0) != 0x80;
    return c;
}

size_t prev_char(const std::string& s, size_t pos) {
    if (pos == 0) return 0;
    --pos;
    while (pos > 0 && (static_cast<unsigned char>(s[pos]) & 0xc0) == 0x80) --pos;
    return pos;
}

size_t next_char(const std::string& s, size_t pos) {
    if (pos >= s.size()) return s.size();
    ++pos;
    while (pos < s.size() && (static_cast<unsigned char>(s[pos]) & 0xc0) == 0x80) ++pos;
    return pos;
}

}  // namespace

line_editor::line_editor(std::string history_path) : path_(std::move(history_path)) {
    if (path_.empty()) return;
    std::ifstream f(path_);
    std::string l;
    while (std::getline(f, l))
        if (!l.empty()) history_.push_back(unescape_entry(l));
    if (history_.size() > history_max) history_.erase(history_.begin(), history_.end() - history_max);
}

std::string line_editor::default_history_path() {
    std::string dir;
    if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) dir = x;
    else if (const char* h = std::getenv("HOME"); h && *h) dir = std::string(h) + "/.local/state";
    else return "";
    dir += "/kiln";
    if (!make_dirs(dir)) return "";
    return dir + "/history";
}

void line_editor::add_history(const std::string& line) {
    if (line.empty() || (!history_.empty() && history_.back() == line)) return;
    history_.push_back(line);
    if (history_.size() > history_max) history_.erase(history_.begin());
    save_entry(line);
}

void line_editor::save_entry(const std::string& line) {
    if (path_.empty()) return;
    std::ofstream f(path_, std::ios::app);
    if (f) f << escape_entry(line) << '\n';
}

line_editor::status line_editor::read(const std::string& prompt, std::string& line) {
    line.clear();
    raw_mode raw;
    size_t pos = 0;
    size_t hist_index = history_.size();
    std::string draft;
    auto refresh = [&] {
        std::string s = "\r" + prompt;
        for (const char c : line) s += c == '\n' ? ' ' : c;
        s += "\x1b[K";
        const size_t back = columns(line, line.size()) - columns(line, pos);
        if (back > 0) s += "\x1b[" + std::to_string(back) + "D";
        out(s);
    };
    out(prompt);
    for (;;) {
        const int c = read_byte();
        if (c < 0) return status::eof;
        switch (c) {
            case '\r':
            case '\n':
                out("\r\n");
                return status::line;
            case 3:  // Ctrl-C
                out("^C\r\n");
                line.clear();
                return status::interrupt;
            case 4:  // Ctrl-D: end of input on an empty line, else delete
                if (line.empty()) {
                    out("\r\n");
                    return status::eof;
                }
                if (pos < line.size()) line.erase(pos, next_char(line, pos) - pos);
                break;
            case 127:
            case 8:
                if (pos > 0) {
                    const size_t p = prev_char(line, pos);
                    line.erase(p, pos - p);
                    pos = p;
                }
                break;
            case 1: pos = 0; break;             // Ctrl-A
            case 5: pos = line.size(); break;   // Ctrl-E
            case 2: pos = prev_char(line, pos); break;  // Ctrl-B
            case 6: pos = next_char(line, pos); break;  // Ctrl-F
            case 11: line.erase(pos); break;    // Ctrl-K
            case 21:                            // Ctrl-U
                line.erase(0, pos);
                pos = 0;
                break;
            case 23: {  // Ctrl-W: the word before the cursor
                size_t p = pos;
                while (p > 0 && line[p - 1] == ' ') --p;
                while (p > 0 && line[p - 1] != ' ') --p;
                line.erase(p, pos - p);
                pos = p;
                break;
            }
            case 12: out("\x1b[H\x1b[2J"); break;  // Ctrl-L
            case 16:                               // Ctrl-P
            case 14: {                             // Ctrl-N
                const bool up = c == 16;
                if (up && hist_index > 0) {
                    if (hist_index == history_.size()) draft = line;
                    line = history_[--hist_index];
                } else if (!up && hist_index < history_.size()) {
                    ++hist_index;
                    line = hist_index == history_.size() ? draft : history_[hist_index];
                }
                pos = line.size();
                break;
            }
            case 27: {  // escape sequences: arrows, Home/End, Delete
                const int a = read_byte();
                if (a != '[' && a != 'O') break;
                const int b = read_byte();
                int key = b;
                if (b >= '0' && b <= '9') {
                    const int t = read_byte();
                    if (t != '~') break;
                    key = b == '1' || b == '7' ? 'H' : b == '4' || b == '8' ? 'F' : b == '3' ? 'X' : 0;
                }
                if (key == 'A' || key == 'B') {
                    const bool up = key == 'A';
                    if (up && hist_index > 0) {
                        if (hist_index == history_.size()) draft = line;
                        line = history_[--hist_index];
                    } else if (!up && hist_index < history_.size()) {
                        ++hist_index;
                        line = hist_index == history_.size() ? draft : history_[hist_index];
                    }
                    pos = line.size();
                } else if (key == 'C') pos = next_char(line, pos);
                else if (key == 'D') pos = prev_char(line, pos);
                else if (key == 'H') pos = 0;
                else if (key == 'F') pos = line.size();
                else if (key == 'X' && pos < line.size()) line.erase(pos, next_char(line, pos) - pos);
                break;
            }
            default:
                if (c >= 32 || c == '\t') {
                    line.insert(pos, 1, static_cast<char>(c));
                    ++pos;
                }
        }
        refresh();
    }
}

}  // namespace kiln

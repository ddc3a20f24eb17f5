// Command universal joins thin Mach-O executables into one universal
// ("fat") binary, as Apple's lipo -create does, so that the macOS agent
// can be built on Linux:
//
//	go run ./installers/macos/universal -o rollcall-agent amd64/rollcall-agent arm64/rollcall-agent
//
// Each slice is copied unchanged, code signature included, at an offset
// aligned to its architecture's page size.
package main

import (
	"bytes"
	"debug/macho"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
)

// fatMagic starts a universal binary (FAT_MAGIC, big-endian).
const fatMagic = 0xcafebabe

// slice is one thin executable to put in the universal binary.
type slice struct {
	cpu    macho.Cpu
	subCpu uint32
	align  uint32 // log2 of the alignment of its offset
	data   []byte
}

func main() {
	out := flag.String("o", "", "the universal binary to write (required)")
	flag.Parse()
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "universal:", err)
		os.Exit(1)
	}
}

func run(out string, inputs []string) error {
	if out == "" || len(inputs) < 2 {
		return errors.New("usage: universal -o OUT THIN1 THIN2 [...]")
	}
	var slices []slice
	for _, in := range inputs {
		s, err := readSlice(in)
		if err != nil {
			return err
		}
		for _, o := range slices {
			if o.cpu == s.cpu {
				return fmt.Errorf("%s: a second %s executable", in, s.cpu)
			}
		}
		slices = append(slices, s)
	}
	b, err := join(slices)
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o755)
}

// readSlice reads a thin 64-bit Mach-O executable.
func readSlice(path string) (slice, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return slice{}, err
	}
	f, err := macho.NewFile(bytes.NewReader(data))
	if err != nil {
		return slice{}, fmt.Errorf("%s is not a thin Mach-O file: %w", path, err)
	}
	s := slice{cpu: f.Cpu, subCpu: f.SubCpu, data: data}
	switch f.Cpu {
	case macho.CpuArm64:
		s.align = 14 // 16 KiB pages
	case macho.CpuAmd64:
		s.align = 12 // 4 KiB pages
	default:
		return slice{}, fmt.Errorf("%s: %s is not an architecture the agent ships for", path, f.Cpu)
	}
	if f.Type != macho.TypeExec {
		return slice{}, fmt.Errorf("%s is not an executable", path)
	}
	return s, nil
}

// join lays out the fat header, one fat_arch per slice, then each slice
// at its aligned offset.
func join(slices []slice) ([]byte, error) {
	var hdr bytes.Buffer
	put := func(v uint32) { binary.Write(&hdr, binary.BigEndian, v) }
	put(fatMagic)
	put(uint32(len(slices)))
	offset := uint64(8 + 20*len(slices))
	offsets := make([]uint64, len(slices))
	for i, s := range slices {
		a := uint64(1) << s.align
		offset = (offset + a - 1) / a * a
		offsets[i] = offset
		if offset+uint64(len(s.data)) > 1<<32-1 {
			return nil, errors.New("the slices are too large for a 32-bit universal binary")
		}
		put(uint32(s.cpu))
		put(s.subCpu)
		put(uint32(offset))
		put(uint32(len(s.data)))
		put(s.align)
		offset += uint64(len(s.data))
	}
	out := make([]byte, offset)
	copy(out, hdr.Bytes())
	for i, s := range slices {
		copy(out[offsets[i]:], s.data)
	}
	return out, nil
}

package demo

import (
	"bytes"
	"context"
	_ "embed" // RegistryCSV
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ndxp/ndxp/client"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// RegistryCSV is the register of the 2018 pilot of Vietnam's national
// document exchange axis, in the format of `ndxpctl agency import`
// (header code,name,parent,stage): 95 level-1 bodies, 71 of them at stage
// pilot and 24 pending (docs/domain.md: "71 of 95 central agencies and
// provinces tried connecting").
//
// The 95 are 1 + 31 + 63:
//
//   - 1 Party body: Văn phòng Trung ương Đảng (the Party Central Office);
//   - 31 central government bodies as of 2018: the 18 ministries, the 4
//     ministry-level agencies (Ngân hàng Nhà nước Việt Nam, Thanh tra
//     Chính phủ, Ủy ban Dân tộc, Văn phòng Chính phủ) and the 9 government
//     agencies (Ban Quản lý Lăng Chủ tịch Hồ Chí Minh, Bảo hiểm xã hội Việt
//     Nam, Đài Tiếng nói Việt Nam, Đài Truyền hình Việt Nam, Học viện Chính
//     trị quốc gia Hồ Chí Minh, Thông tấn xã Việt Nam, the two Viện Hàn lâm,
//     and Ủy ban Quản lý vốn nhà nước tại doanh nghiệp, founded in 2018);
//   - the 63 provinces and centrally-run cities before the 2025 mergers.
//
// Names are the official Vietnamese names (NFC). Codes are real where
// known and otherwise placeholders in the standard's form; do not treat
// this file as the official register:
//
//   - verified (docs/domain.md): 000.00.00.G22 Văn phòng Chính phủ, H14 Cao
//     Bằng, H41 Nghệ An, H47 Quảng Nam;
//   - seen in public sources but not checked against the official list:
//     G01-G21 (the ministries sorted by name without diacritics and
//     spaces, then the four ministry-level agencies; G13 by elimination),
//     H27 Hà Tĩnh (weak),
//     H29 Thành phố Hồ Chí Minh, H30 Hậu Giang, H49 Quảng Ninh, H56 Thanh
//     Hóa;
//   - placeholders: the other H codes follow the same rule (names sorted
//     without diacritics, đ as d, spaces ignored), which reproduces every
//     code above except H29/H30, taken from the sources, so H28 Hòa Bình
//     is a guess; G23-G30 are the older government agencies in the same
//     order, G31 is the agency founded in 2018; 000.00.00.A01 (Party
//     Central Office) is invented.
//
// Which 24 bodies are pending is illustrative: no public source lists the
// bodies that did not connect in 2018. See README.md.
//
//go:embed registry-2018.csv
var RegistryCSV []byte

// Agency is one row of the register.
type Agency struct {
	// Code is the identifier code, e.g. "000.00.00.G22".
	Code string
	// Name is the official name in Vietnamese, e.g. "Văn phòng Chính phủ".
	Name string
	// Parent is the parent's code; empty for a level-1 body.
	Parent string
	// Stage is STAGE_PILOT or STAGE_PENDING.
	Stage ndxpv1.Stage
}

// Registry parses RegistryCSV.
func Registry() ([]Agency, error) {
	return parseRegistry(RegistryCSV)
}

// parseRegistry reads the header code,name,parent,stage (in that order)
// and one agency per line.
func parseRegistry(data []byte) ([]Agency, error) {
	r := csv.NewReader(bytes.NewReader(data))
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("registry: header: %w", err)
	}
	if got := strings.Join(header, ","); got != "code,name,parent,stage" {
		return nil, fmt.Errorf("registry: header %q, want code,name,parent,stage", got)
	}
	var list []Agency
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		line, _ := r.FieldPos(0)
		var st ndxpv1.Stage
		switch rec[3] {
		case "pilot":
			st = ndxpv1.Stage_STAGE_PILOT
		case "pending":
			st = ndxpv1.Stage_STAGE_PENDING
		case "production":
			st = ndxpv1.Stage_STAGE_PRODUCTION
		default:
			return nil, fmt.Errorf("registry: line %d: unknown stage %q", line, rec[3])
		}
		list = append(list, Agency{Code: rec[0], Name: rec[1], Parent: rec[2], Stage: st})
	}
	return list, nil
}

// Load registers the 2018 register at a hub that has no agencies yet, in
// one ImportAgencies call, and returns how many were created. A hub that
// already has agencies is left alone (created 0), so Load is safe to run
// at every start. admin must hold an admin credential.
func Load(ctx context.Context, admin *client.Client) (created int, err error) {
	page, err := admin.Registry.ListAgencies(ctx, &ndxpv1.ListAgenciesRequest{PageSize: 1})
	if err != nil {
		return 0, fmt.Errorf("demo: list agencies: %w", err)
	}
	if len(page.GetAgencies()) > 0 {
		return 0, nil
	}
	list, err := Registry()
	if err != nil {
		return 0, err
	}
	req := &ndxpv1.ImportAgenciesRequest{Agencies: make([]*ndxpv1.Agency, 0, len(list))}
	for _, a := range list {
		req.Agencies = append(req.Agencies, &ndxpv1.Agency{Code: a.Code, Name: a.Name, ParentCode: a.Parent, Stage: a.Stage})
	}
	resp, err := admin.Registry.ImportAgencies(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("demo: import the 2018 register: %w", err)
	}
	return int(resp.GetCreated()), nil
}

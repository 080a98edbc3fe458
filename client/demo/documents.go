package demo

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/ndxp/ndxp/client"
	ndxpv1 "github.com/ndxp/ndxp/proto/ndxp/v1"
)

// rng is a seeded random source safe for concurrent use.
type rng struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newRNG(seed int64) *rng {
	return &rng{r: rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))}
}

func (g *rng) IntN(n int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.r.IntN(n)
}

func (g *rng) Float64() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.r.Float64()
}

// between returns a duration uniformly in [lo, hi].
func (g *rng) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return lo + time.Duration(g.r.Int64N(int64(hi-lo)+1))
}

func (g *rng) shuffle(n int, swap func(i, j int)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.r.Shuffle(n, swap)
}

func (g *rng) fill(p []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := 0; i < len(p); i += 8 {
		v := g.r.Uint64()
		for j := 0; j < 8 && i+j < len(p); j++ {
			p[i+j] = byte(v >> (8 * j))
		}
	}
}

func pick[T any](g *rng, list []T) T { return list[g.IntN(len(list))] }

// subjects are summaries (trích yếu) in the style of real official letters;
// %d is replaced by the current month.
var subjects = []string{
	"Về việc triển khai Chính phủ điện tử",
	"Về việc báo cáo tình hình kinh tế - xã hội tháng %d",
	"Về việc triển khai Trục liên thông văn bản quốc gia",
	"Về việc gửi, nhận văn bản điện tử giữa các cơ quan trong hệ thống hành chính nhà nước",
	"Về việc thực hiện Quyết định số 28/2018/QĐ-TTg của Thủ tướng Chính phủ",
	"Về việc báo cáo kết quả thực hiện nhiệm vụ tháng %d",
	"Về việc tổ chức Hội nghị trực tuyến Chính phủ với địa phương",
	"Về việc góp ý dự thảo Nghị định",
	"Về việc rà soát thủ tục hành chính",
	"Về việc tăng cường công tác phòng, chống thiên tai",
	"Về việc cấp mã định danh cho các cơ quan, đơn vị",
	"Về việc đẩy mạnh giải ngân vốn đầu tư công",
	"Về việc chuẩn bị nội dung phiên họp Chính phủ thường kỳ tháng %d",
	"Về việc báo cáo tình hình ứng dụng công nghệ thông tin",
	"Về việc tổng kết công tác năm và triển khai nhiệm vụ năm tới",
	"Về việc kiện toàn Ban Chỉ đạo xây dựng Chính phủ điện tử",
	"Về việc bảo đảm an toàn thông tin mạng",
	"Về việc cung cấp thông tin phục vụ xây dựng cơ sở dữ liệu quốc gia",
	"Về việc thực hiện chế độ báo cáo định kỳ",
	"Về việc tổ chức đoàn công tác kiểm tra tình hình thực hiện nhiệm vụ",
}

// docKind is a document type with the prefix of its notation (ký hiệu)
// and a file-name slug; a công văn has no prefix (e.g. 7816/VPCP-TTĐT).
type docKind struct {
	name, prefix, slug string
	weight             int
}

var kinds = []docKind{
	{"Công văn", "", "cong-van", 50},
	{"Báo cáo", "BC", "bao-cao", 15},
	{"Thông báo", "TB", "thong-bao", 13},
	{"Quyết định", "QĐ", "quyet-dinh", 10},
	{"Kế hoạch", "KH", "ke-hoach", 7},
	{"Giấy mời", "GM", "giay-moi", 5},
}

// units are the issuing units appended to a công văn's notation.
var units = []string{"VP", "TH", "KGVX", "KTTH", "PL", "TCCB", "KHTC", "CNTT"}

var recallReasons = []string{
	"Văn bản ban hành chưa đúng thể thức",
	"Gửi nhầm nơi nhận",
	"Cập nhật lại số liệu tại phụ lục kèm theo",
	"Văn bản được thay thế bằng văn bản khác",
}

// refusal is the reason of a status 02 (docs/domain.md: 02 needs a reason).
const refusal = "Không thuộc thẩm quyền"

var (
	familyNames = []string{"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"}
	middleNames = []string{"Văn", "Thị", "Đức", "Minh", "Thanh", "Quốc", "Hữu", "Ngọc", "Xuân", "Thu"}
	givenNames  = []string{"An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hòa", "Hùng", "Lan", "Long", "Mai", "Nam", "Phương", "Quang", "Sơn", "Tâm", "Thảo", "Trung", "Tuấn", "Vinh", "Yến"}
)

func (g *rng) personName() string {
	return pick(g, familyNames) + " " + pick(g, middleNames) + " " + pick(g, givenNames)
}

// profile says how an agency signs its documents.
type profile struct {
	abbr       string // in notations, e.g. "VPCP"
	competence string // e.g. "KT. BỘ TRƯỞNG"
	position   string // e.g. "Thứ trưởng"
}

// profiles of the central bodies of the 2018 register, by code.
var profiles = map[string]profile{
	"000.00.00.A01": {"VPTW", "K/T CHÁNH VĂN PHÒNG", "Phó Chánh Văn phòng"},
	"000.00.00.G01": {"BCA", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G02": {"BCT", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G03": {"BGDĐT", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G04": {"BGTVT", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G05": {"BKHĐT", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G06": {"BKHCN", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G07": {"LĐTBXH", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G08": {"BNG", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G09": {"BNV", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G10": {"BNN", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G11": {"BQP", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G12": {"BTC", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G13": {"BTNMT", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G14": {"BTTTT", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G15": {"BTP", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G16": {"BVHTTDL", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G17": {"BXD", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G18": {"BYT", "KT. BỘ TRƯỞNG", "Thứ trưởng"},
	"000.00.00.G19": {"NHNN", "KT. THỐNG ĐỐC", "Phó Thống đốc"},
	"000.00.00.G20": {"TTCP", "KT. TỔNG THANH TRA", "Phó Tổng Thanh tra"},
	"000.00.00.G21": {"UBDT", "KT. BỘ TRƯỞNG, CHỦ NHIỆM", "Thứ trưởng, Phó Chủ nhiệm"},
	"000.00.00.G22": {"VPCP", "KT. BỘ TRƯỞNG, CHỦ NHIỆM", "Phó Chủ nhiệm"},
	"000.00.00.G23": {"BQLL", "KT. TRƯỞNG BAN", "Phó Trưởng ban"},
	"000.00.00.G24": {"BHXH", "KT. TỔNG GIÁM ĐỐC", "Phó Tổng Giám đốc"},
	"000.00.00.G25": {"TNVN", "KT. TỔNG GIÁM ĐỐC", "Phó Tổng Giám đốc"},
	"000.00.00.G26": {"THVN", "KT. TỔNG GIÁM ĐỐC", "Phó Tổng Giám đốc"},
	"000.00.00.G27": {"HVCTQG", "KT. GIÁM ĐỐC", "Phó Giám đốc"},
	"000.00.00.G28": {"TTXVN", "KT. TỔNG GIÁM ĐỐC", "Phó Tổng Giám đốc"},
	"000.00.00.G29": {"VHLKHCNVN", "KT. CHỦ TỊCH", "Phó Chủ tịch"},
	"000.00.00.G30": {"VHLKHXH", "KT. CHỦ TỊCH", "Phó Chủ tịch"},
	"000.00.00.G31": {"UBQLV", "KT. CHỦ TỊCH", "Phó Chủ tịch"},
}

// profileOf returns how an agency signs: from the table, as a people's
// committee (UBND) for provinces, or from the name's initials otherwise,
// so the driver works with any register.
func profileOf(code, name string) profile {
	if p, ok := profiles[code]; ok {
		return p
	}
	if strings.HasPrefix(name, "UBND ") || strings.HasPrefix(name, "Ủy ban nhân dân") {
		return profile{"UBND", "KT. CHỦ TỊCH", "Phó Chủ tịch"}
	}
	var abbr strings.Builder
	for _, w := range strings.Fields(name) {
		r := []rune(w)[0]
		if unicode.IsLetter(r) {
			abbr.WriteRune(unicode.ToUpper(r))
		}
	}
	if abbr.Len() == 0 {
		abbr.WriteString("CQ")
	}
	return profile{abbr.String(), "TL. THỦ TRƯỞNG CƠ QUAN", "Chánh Văn phòng"}
}

// placeOf is the promulgation place: the province's name, or Hà Nội for
// central bodies.
func placeOf(name string) string {
	for _, p := range []string{"UBND tỉnh ", "UBND thành phố "} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			if rest == "Hồ Chí Minh" {
				return "Thành phố Hồ Chí Minh"
			}
			return rest
		}
	}
	return "Hà Nội"
}

// document makes a realistic document from sender to recipients with one
// attachment of 1-200 KiB.
func (g *rng) document(sender *agent, number int, recipients []*agent, now time.Time) (*ndxpv1.DocumentHeader, client.Attachment) {
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	kind, n := kinds[len(kinds)-1], g.IntN(total)
	for _, k := range kinds {
		if n < k.weight {
			kind = k
			break
		}
		n -= k.weight
	}
	p := profileOf(sender.code, sender.name)
	notation := kind.prefix + "-" + p.abbr
	if kind.prefix == "" {
		notation = p.abbr + "-" + pick(g, units)
	}
	subject := pick(g, subjects)
	if strings.Contains(subject, "%d") {
		subject = fmt.Sprintf(subject, int(now.Month()))
	}
	priority := int32(0)
	switch x := g.Float64(); {
	case x < 0.01:
		priority = 3
	case x < 0.04:
		priority = 2
	case x < 0.12:
		priority = 1
	}
	h := &ndxpv1.DocumentHeader{
		Number:            fmt.Sprint(number),
		Notation:          notation,
		DocumentType:      kind.name,
		Subject:           subject,
		PromulgationPlace: placeOf(sender.name),
		PromulgationDate:  now.Format("2006-01-02"),
		Signer:            &ndxpv1.Signer{Competence: p.competence, Position: p.position, FullName: g.personName()},
		Priority:          priority,
	}
	if g.IntN(3) == 0 {
		h.DueDate = now.AddDate(0, 0, 3+g.IntN(28)).Format("2006-01-02")
	}
	var kg strings.Builder
	kg.WriteString("Kính gửi:")
	for _, r := range recipients {
		h.Recipients = append(h.Recipients, r.code)
		h.ToPlaces = append(h.ToPlaces, r.name)
		kg.WriteString("\n- " + r.name + ";")
	}
	h.Content = kg.String() + "\n\n" + subject + ".\n"

	size := attachmentSize(g)
	var att client.Attachment
	if g.IntN(10) < 7 {
		att = client.Attachment{
			Name: fmt.Sprintf("%s-%d.pdf", kind.slug, number), MediaType: "application/pdf",
			Description: kind.name + " " + h.Number + "/" + notation, Body: bytes.NewReader(pdfLike(g, subject, size)),
		}
	} else {
		att = client.Attachment{
			Name: fmt.Sprintf("%s-%d.txt", kind.slug, number), MediaType: "text/plain; charset=utf-8",
			Description: "Nội dung " + strings.ToLower(kind.name), Body: bytes.NewReader(text(h, size)),
		}
	}
	return h, att
}

// attachmentSize is 1-200 KiB, mostly small, like scanned letters.
func attachmentSize(g *rng) int {
	f := g.Float64()
	return 1024 + int(f*f*f*float64(199<<10))
}

// pdfLike is a file that starts and ends like a PDF, padded with noise to size.
func pdfLike(g *rng, title string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%%PDF-1.4\n%%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Title (%s) /Producer (ndxp demo) >>\nendobj\n2 0 obj\n<< /Length %d >>\nstream\n", title, size)
	tail := "\nendstream\nendobj\ntrailer\n<< /Info 1 0 R >>\n%%EOF\n"
	if n := size - b.Len() - len(tail); n > 0 {
		noise := make([]byte, n)
		g.fill(noise)
		b.Write(noise)
	}
	b.WriteString(tail)
	return b.Bytes()
}

// text repeats the document's body up to size bytes.
func text(h *ndxpv1.DocumentHeader, size int) []byte {
	para := h.GetDocumentType() + " số " + h.GetNumber() + "/" + h.GetNotation() + "\n" + h.GetContent() + "\n"
	var b bytes.Buffer
	for b.Len() < size {
		b.WriteString(para)
	}
	return b.Bytes()
}

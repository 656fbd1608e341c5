package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"os"
)

//go:embed report.html.tmpl
var reportTemplateText string

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"num": num, "dec": dec, "times": times,
}).Parse(reportTemplateText))

// reportWorkload is one workload's section of the page: its charts and
// every system's result for it.
type reportWorkload struct {
	Kind       Kind
	Label      string
	Results    []Result
	Percentile template.HTML
	Throughput template.HTML
}

type reportPage struct {
	*Report
	Workloads []reportWorkload
}

// renderHTMLReport renders a self-contained page: inline CSS and SVG, no
// script and no link to anything outside it.
func renderHTMLReport(rep *Report) ([]byte, error) {
	page := reportPage{Report: rep}
	for _, k := range rep.Spec.Workloads {
		var rs []Result
		for _, s := range rep.Systems {
			if r, ok := findResult(s, k); ok {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		page.Workloads = append(page.Workloads, reportWorkload{
			Kind: k, Label: rs[0].Label, Results: rs,
			Percentile: percentileChart(fmt.Sprintf("%s: latency by percentile", k), rs).svg(),
			Throughput: throughputChart(fmt.Sprintf("%s: throughput over time", k), rs).svg(),
		})
	}
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, page); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeHTMLReport(path string, rep *Report) error {
	b, err := renderHTMLReport(rep)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
